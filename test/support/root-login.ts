// Whether anyone gets in as root without a password: the servers lock root at every start.
import { createConnection } from 'mysql2/promise';

/** The ways in as root with an empty password (its socket, TCP to its address) that a pod's server accepted; each refusal checked to be about the account. */
export async function rootLoginsAccepted(pod: { name: string; paths: { socket: string }; spec: { address: string } }, port: number): Promise<string[]> {
  const ways = { socket: { socketPath: pod.paths.socket }, tcp: { host: pod.spec.address, port } };
  const accepted: string[] = [];
  for (const [way, target] of Object.entries(ways)) {
    try {
      const connection = await createConnection({ ...target, user: 'root', password: '', connectTimeout: 3000 });
      await connection.end();
      accepted.push(`${pod.name}: root over ${way}`);
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      // Refused by the server as an account (denied, or locked), not merely unreachable.
      if (!/ER_ACCESS_DENIED_ERROR|ER_ACCOUNT_HAS_BEEN_LOCKED|ER_HOST_NOT_PRIVILEGED/.test(code ?? '') && !/locked|denied/i.test(message)) {
        throw new Error(`${pod.name}: root over ${way} failed for another reason than the account: ${message}`);
      }
    }
  }
  return accepted;
}
