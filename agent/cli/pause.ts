import { AgentError, rootMessageOf } from '../errors.ts';
import { parseCommandLine } from './args.ts';
import { agentOptions, agentTargets, tokenFor } from './status.ts';

interface Outcome {
  agent: string;
  ok: boolean;
  reason: string;
}

/**
 * `pause` / `resume`: POST /pause or /resume to every agent at once, so automatic failover stops
 * (or starts again) everywhere, not on the one agent asked. One line per agent; exit 1 unless
 * every one of them took it.
 */
export async function setPaused(paused: boolean, args: string[]): Promise<number> {
  const command = paused ? 'pause' : 'resume';
  const { values } = parseCommandLine(command, { args, options: { ...agentOptions, json: { type: 'boolean' } } });
  const agents = await agentTargets(values);
  const token = tokenFor(values.dir);
  if (!token) throw new AgentError('USAGE', `${command} needs the agents' token: set MYSQL_HA_SWITCHOVER_TOKEN (or use --dir for a sandbox)`);
  const outcomes = await Promise.all(
    agents.map(async ({ url, client }): Promise<Outcome> => {
      try {
        const response = await client.request(`${url}/${command}`, { method: 'POST', token, body: {}, timeoutMs: 5000 });
        const body = (await response.json().catch(() => ({}))) as { ok?: unknown; reason?: unknown };
        return { agent: url, ok: response.ok && body.ok === true, reason: typeof body.reason === 'string' ? body.reason : `answered ${response.status}` };
      } catch (error) {
        return { agent: url, ok: false, reason: `agent unreachable (${rootMessageOf(error)})` };
      }
    }),
  );
  const done = paused ? 'paused' : 'resumed';
  process.stdout.write(
    values.json
      ? `${JSON.stringify(outcomes, null, 2)}\n`
      : `${outcomes.map((outcome) => `${outcome.agent}  ${outcome.ok ? done : 'FAILED'}  ${outcome.reason}`).join('\n')}\n`,
  );
  return outcomes.every((outcome) => outcome.ok) ? 0 : 1;
}
