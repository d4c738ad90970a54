#!/usr/bin/env node
import { AgentError, errorDefs, messageOf } from './errors.ts';

// Each command lives in agent/cli/<name>.ts and exports
// `main(args: string[]): Promise<number>` (the exit code). Loading them lazily keeps
// `stage` (an init container) from loading the HTTP server and MySQL driver.
//
// Exit codes, for every command: 0 done; 1 failed (an error, or for `status` an unhealthy
// cluster); 2 a mistake in the command line (no or unknown command, or an AgentError USAGE
// thrown by the command).
/** A command's module: its main, and optionally a longer `--help` than its summary. */
interface CommandModule {
  main(args: string[]): Promise<number>;
  help?: string;
}

/** How a command that asks the agents finds them (none needed inside a pod's agent container). */
const AGENTS = '(--dir DIR | --agents URL,... | --kubernetes [-n NS]) [--ca-file CA]';

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  stage: { summary: "stage --conf-dir DIR --init-dir DIR   write this pod's .cnf and init SQL (init container)", load: () => import('./cli/stage.ts') },
  run: { summary: 'run                                   the sidecar: configure replication, serve /health and /status', load: () => import('./cli/run.ts') },
  sandbox: { summary: 'sandbox up|status|kill|stop|start|down  a whole cluster on this machine (sandbox --help)', load: () => import('./cli/sandbox.ts') },
  status: {
    summary: `status ${AGENTS}  the cluster table from every agent's /status (--json)`,
    load: () => import('./cli/status.ts'),
  },
  list: {
    summary: `list ${AGENTS}  the same table as status (role, health, lag, tags, lease term, paused)`,
    load: () => import('./cli/status.ts'),
  },
  switchover: {
    summary: `switchover [--to POD] ${AGENTS}  planned switchover (token: MYSQL_HA_SWITCHOVER_TOKEN)`,
    load: () => import('./cli/switchover.ts'),
  },
  failover: {
    summary: `failover --to POD [--force] ${AGENTS}  make POD the primary by hand (the old one gone, failover paused)`,
    load: () => import('./cli/failover.ts'),
  },
  reinit: {
    summary: `reinit POD [--from DONOR] ${AGENTS}  replace a replica's data with a copy of another pod's`,
    load: () => import('./cli/reinit.ts'),
  },
  restart: {
    summary: `restart POD ${AGENTS}  restart mysqld of POD (a primary is switched over first)`,
    load: () => import('./cli/restart.ts'),
  },
  history: {
    summary: `history ${AGENTS}  every change of lease holder: when, from, to, how, why (--json)`,
    load: () => import('./cli/history.ts'),
  },
  pause: {
    summary: `pause ${AGENTS}  automatic failover off on every agent (token: MYSQL_HA_SWITCHOVER_TOKEN)`,
    load: () => import('./cli/pause.ts').then(({ setPaused }) => ({ main: (args: string[]) => setPaused(true, args) })),
  },
  resume: {
    summary: `resume ${AGENTS}  automatic failover on again on every agent`,
    load: () => import('./cli/pause.ts').then(({ setPaused }) => ({ main: (args: string[]) => setPaused(false, args) })),
  },
  images: { summary: 'images [--flavor mysql|mariadb|all]     build the agent and server images with Docker (--help)', load: () => import('./cli/images.ts') },
  'haproxy-config': {
    summary: 'haproxy-config --statefulset NAME     print haproxy.cfg: writes to the primary, reads spread over pods (--help)',
    load: () => import('./cli/haproxy-config.ts'),
  },
};

export function usage(): string {
  const lines = Object.values(commands).map((command) => `  mysql-ha-agent ${command.summary}`);
  return (
    `usage:\n${lines.join('\n')}\n\n` +
    "The agents: a sandbox (--dir), their URLs (--agents), or the pods that --selector (default: the manifests' labels) picks in\n" +
    "namespace NS, listed with your kubeconfig and reached at their pod IPs (--kubernetes); none inside a pod's agent container\n" +
    '(kubectl exec POD -c agent -- mysql-ha-agent list). The token comes from MYSQL_HA_SWITCHOVER_TOKEN.\n' +
    "Settings come from the environment; see the README's configuration table.\nExit codes: 0 done, 1 failed (status: a pod is unhealthy), 2 usage error."
  );
}

/** 2 for a usage error, as for an unknown command; 1 for any other failure. */
function exitCodeFor(error: unknown): number {
  return error instanceof AgentError && error.code === errorDefs.USAGE.code ? 2 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mysql-ha-agent: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const module = await command.load();
  // --help (or -h) anywhere: every command and subcommand answers it the same way.
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${module.help ?? `usage: mysql-ha-agent ${command.summary}`}\n`);
    return 0;
  }
  return module.main(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`mysql-ha-agent: ${error instanceof AgentError ? error.describe() : messageOf(error)}\n`);
    process.exitCode = exitCodeFor(error);
  },
);
