import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { haproxyDefaults, renderHaproxyConfig } from '../haproxy/config.ts';
import { assertPortsFree, waitFor } from './probes.ts';
import { SandboxService, spawnLogged } from './process.ts';
import { runCommand } from './runtime.ts';

/** One server row of HAProxy's CSV stats: which backend, which server, its state. */
export interface HaproxyServerState {
  backend: string;
  server: string;
  status: string;
}

/** HAProxy in front of the pods: writes to the primary, reads spread over healthy pods, as the agents' checks say. */
export class HaproxyProcess extends SandboxService {
  get configPath(): string {
    return join(this.dir, 'haproxy.cfg');
  }

  /** Where clients connect, and the stats page. */
  get ports(): { writePort: number; readPort: number; statsPort: number } {
    const { writePort, readPort, statsPort } = haproxyDefaults;
    return { writePort, readPort, statsPort };
  }

  async assertAddressFree(): Promise<void> {
    const { writePort, readPort, statsPort } = this.ports;
    await assertPortsFree({ name: 'haproxy', address: this.address }, [writePort, readPort, statsPort]);
  }

  /** Renders haproxy.cfg for these pods (whose agents' certificates `caFile` signed), checks it with `haproxy -c`, and starts HAProxy. */
  async start(pods: Array<{ name: string; host: string }>, caFile: string, previous: string[] = []): Promise<void> {
    const config = renderHaproxyConfig({ pods, bindAddress: this.address, agentCaFile: caFile, generatedBy: 'mysql-ha-agent sandbox up' });
    writeFileSync(this.configPath, config);
    await runCommand(['haproxy', '-c', '-q', '-f', this.configPath]);
    this.pid = spawnLogged('haproxy', ['-db', '-f', this.configPath, ...previous], join(this.dir, 'haproxy.log'));
  }

  /**
   * The same for another set of pods, as a soft reload: the new HAProxy takes the ports over and
   * the old one (`-sf`) stops listening and ends once its connections have.
   */
  reload(pods: Array<{ name: string; host: string }>, caFile: string): Promise<void> {
    return this.start(pods, caFile, this.pid === undefined ? [] : ['-sf', String(this.pid)]);
  }

  /** Until HAProxy agrees with `podCount` healthy agents (see waitHaproxySettled). */
  waitSettled(podCount: number, timeoutMs: number): Promise<void> {
    return waitHaproxySettled(this.address, podCount, timeoutMs, `${this.dir}/haproxy.log`);
  }
}

/**
 * Until the HAProxy whose stats page is on `address` agrees with `podCount` healthy agents.
 * It counts every server as up at start and needs `fall` failed checks to mark one down, so
 * until then a write could reach a replica (which refuses it: replicas are read-only);
 * servers that failed their first checks come back only on their next one.
 */
export async function waitHaproxySettled(address: string, podCount: number, timeoutMs: number, log: string): Promise<void> {
  const url = `http://${address}:${haproxyDefaults.statsPort}/stats;csv`;
  let servers: HaproxyServerState[] = [];
  await waitFor(
    'HAProxy to settle',
    async () => {
      servers = await fetch(url, { signal: AbortSignal.timeout(1000) })
        .then(async (response) => parseStatsCsv(await response.text()))
        .catch(() => []);
      // Called once every agent is healthy: every pod readable, exactly one writable, the rest down for writes.
      const readable = servers.filter((server) => server.backend === 'mysql-readable');
      const write = servers.filter((server) => server.backend === 'mysql-primary');
      return (
        readable.length === podCount &&
        readable.every((server) => server.status === 'UP') &&
        write.filter((server) => server.status === 'UP').length === 1 &&
        write.filter((server) => server.status === 'DOWN').length === podCount - 1
      );
    },
    timeoutMs,
    {
      timeoutError: () =>
        new AgentError('SANDBOX_HAPROXY_UNSETTLED', `HAProxy did not settle within ${timeoutMs / 1000} s: ${JSON.stringify(servers)} (see ${log})`),
    },
  );
}

/** The server rows of HAProxy's CSV stats (`/stats;csv`) for the mysql-* backends. */
export function parseStatsCsv(csv: string): HaproxyServerState[] {
  const [header, ...lines] = csv.trim().split('\n');
  const columns = header!.replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  return lines
    .map((line) => line.split(','))
    .filter((cells) => cells[at('svname')] !== 'FRONTEND' && cells[at('svname')] !== 'BACKEND' && cells[at('pxname')]?.startsWith('mysql-'))
    .map((cells) => ({ backend: cells[at('pxname')]!, server: cells[at('svname')]!, status: cells[at('status')]! }));
}
