// A DNS server for tests, on loopback UDP: answers what a Kubernetes cluster DNS answers for a
// headless Service, an SRV record listing its pods (with their A records in the additional
// section) and each pod's A record, from a list the test changes (a StatefulSet scaled).
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';

export interface DnsPod {
  /** The pod's DNS name, e.g. mysql-ha-0.mysql-ha.test.svc.cluster.local. */
  target: string;
  address: string;
}

export class FakeSrvDns {
  readonly #socket: Socket;
  readonly #record: string;
  readonly #port: number;
  /** The pods the SRV record lists now. */
  pods: DnsPod[] = [];
  /** Queries received, as "TYPE name". */
  readonly queries: string[] = [];

  private constructor(socket: Socket, record: string, port: number) {
    this.#socket = socket;
    this.#record = record;
    this.#port = port;
    socket.on('message', (message, remote) => this.#answer(message, remote));
  }

  /** Serves `record` (an SRV name) on 127.0.0.1, pointing at `port` on each pod. */
  static async start(record: string, port: number): Promise<FakeSrvDns> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new FakeSrvDns(socket, record, port);
  }

  get address(): string {
    return `127.0.0.1:${this.#socket.address().port}`;
  }

  #answer(message: Buffer, remote: { address: string; port: number }): void {
    const query = dnsPacket.decode(message);
    const question = query.questions?.[0];
    if (!question) return;
    this.queries.push(`${question.type} ${question.name}`);
    const a = (pod: DnsPod): dnsPacket.Answer => ({ type: 'A', name: pod.target, ttl: 1, class: 'IN', data: pod.address });
    let answers: dnsPacket.Answer[] = [];
    let additionals: dnsPacket.Answer[] = [];
    if (question.type === 'SRV' && question.name === this.#record) {
      answers = this.pods.map((pod) => ({
        type: 'SRV',
        name: this.#record,
        ttl: 1,
        class: 'IN',
        data: { priority: 0, weight: 10, port: this.#port, target: pod.target },
      }));
      additionals = this.pods.map(a);
    } else if (question.type === 'A') {
      answers = this.pods.filter((pod) => pod.target === question.name).map(a);
    }
    const known = question.name === this.#record || this.pods.some((pod) => pod.target === question.name);
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | (known ? 0 : 3), // rcode 3: NXDOMAIN
      questions: query.questions,
      answers,
      additionals,
    });
    this.#socket.send(reply, remote.port, remote.address);
  }

  async close(): Promise<void> {
    this.#socket.close();
    await once(this.#socket, 'close');
  }
}
