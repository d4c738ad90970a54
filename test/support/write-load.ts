// Writers through HAProxy's write port, each recording the ids whose COMMIT was acknowledged,
// and a sampler that watches every node's read-only flag: what a failover must preserve.
import { type Connection, createConnection, type RowDataPacket } from 'mysql2/promise';
import { type AdminReachable, adminConnection } from '../../agent/sandbox/probes.ts';

export interface WriteLoadTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export class WriteLoad {
  static #loads = 0;
  readonly acked: number[] = [];
  /** Epoch ms of every acknowledgement, in order, and the server_id of the node that gave it. */
  readonly acks: Array<{ at: number; serverId: number }> = [];
  failures = 0;
  #running = true;
  readonly #writers: Promise<void>[];

  constructor(target: WriteLoadTarget, writers: number) {
    const load = ++WriteLoad.#loads;
    // Ids unique across every load of a run: load, writer, sequence.
    this.#writers = Array.from({ length: writers }, (_, index) => this.#write(target, (load * 100 + index) * 1_000_000));
  }

  static async prepare(target: WriteLoadTarget): Promise<void> {
    const connection = await createConnection(target);
    await connection.query(
      'CREATE TABLE IF NOT EXISTS acked_writes (id BIGINT PRIMARY KEY, writer INT NOT NULL, at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP(3))',
    );
    await connection.end();
  }

  async #write(target: WriteLoadTarget, firstId: number): Promise<void> {
    const writer = firstId / 1_000_000;
    let sequence = 0;
    let connection: Connection | undefined;
    let serverId = 0;
    while (this.#running) {
      const id = firstId + ++sequence;
      try {
        if (!connection) {
          connection = await createConnection({ ...target, connectTimeout: 2000 });
          const [rows] = await connection.query<RowDataPacket[]>('SELECT @@server_id AS serverId');
          serverId = Number(rows[0]!.serverId);
        }
        await connection.query('INSERT INTO acked_writes (id, writer) VALUES (?, ?)', [id, writer]);
        this.acked.push(id);
        this.acks.push({ at: Date.now(), serverId });
      } catch {
        this.failures++;
        connection?.destroy();
        connection = undefined;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    connection?.destroy();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#writers);
  }

  /** The first acknowledgement at or after `since` by a server other than `oldServerId`, or null. */
  firstAckElsewhere(since: number, oldServerId: number): number | null {
    return this.acks.find((ack) => ack.at >= since && ack.serverId !== oldServerId)?.at ?? null;
  }

  /** The last acknowledgement by `serverId`, or null. */
  lastAckBy(serverId: number): number | null {
    return this.acks.filter((ack) => ack.serverId === serverId).at(-1)?.at ?? null;
  }
}

/** Reads every node's read-only flag every 100 ms; records any moment two nodes were writable. */
export class WritableSampler {
  readonly violations: string[] = [];
  samples = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(pods: Array<AdminReachable & { name: string }>) {
    this.#done = this.#sample(pods);
  }

  async #sample(pods: Array<AdminReachable & { name: string }>): Promise<void> {
    const connections = new Map<string, Connection>();
    while (this.#running) {
      const writable = await Promise.all(
        pods.map(async (pod) => {
          try {
            let connection = connections.get(pod.name);
            if (!connection) {
              connection = await adminConnection(pod);
              connections.set(pod.name, connection);
            }
            const [rows] = await connection.query<RowDataPacket[]>('SELECT @@read_only AS readOnly');
            return Number(rows[0]!.readOnly) === 0 ? pod.name : null;
          } catch {
            connections.get(pod.name)?.destroy();
            connections.delete(pod.name);
            return null;
          }
        }),
      );
      const names = writable.filter((name): name is string => name !== null);
      this.samples++;
      if (names.length > 1) this.violations.push(`${new Date().toISOString()}: ${names.join(' and ')} both writable`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const connection of connections.values()) connection.destroy();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}
