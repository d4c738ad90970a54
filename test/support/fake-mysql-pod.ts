import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';

export type FakeRole = 'primary' | 'replica' | 'down';

/**
 * One pod as HAProxy sees it: an agent answering /primary and /read-only like the real
 * one, and a "mysqld" that, as MySQL does, speaks first: it sends its pod name and
 * keeps the connection open.
 */
export class FakeMysqlPod {
  readonly name: string;
  readonly address: string;
  role: FakeRole;
  lagging = false;
  /** Request targets the agent received, e.g. "/read-only?lag=10". */
  readonly agentRequests: string[] = [];
  private readonly agent: HttpServer;
  private readonly mysql: TcpServer;
  private readonly sockets = new Set<Socket>();

  /** With `tls` (PEM certificate and key) the agent answers HTTPS, as with MYSQL_HA_TLS_DIR. */
  constructor(name: string, address: string, role: FakeRole, tls?: { cert: Buffer; key: Buffer }) {
    this.name = name;
    this.address = address;
    this.role = role;
    const answer = (request: IncomingMessage, response: ServerResponse) => {
      const url = new URL(request.url ?? '/', 'http://agent');
      this.agentRequests.push(`${url.pathname}${url.search}`);
      const ok =
        url.pathname === '/primary'
          ? this.role === 'primary'
          : url.pathname === '/read-only' && (this.role === 'primary' || (this.role === 'replica' && !this.lagging));
      response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'no\n');
    };
    this.agent = tls ? createHttpsServer(tls, answer) : createHttpServer(answer);
    this.mysql = createTcpServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.write(`${this.name}\n`);
    });
  }

  /** Listens on the given ports; port 0 picks one (read it back from the result). */
  async listen(mysqlPort: number, agentPort: number): Promise<{ mysqlPort: number; agentPort: number }> {
    this.mysql.listen(mysqlPort, this.address);
    await once(this.mysql, 'listening');
    this.agent.listen(agentPort, this.address);
    await once(this.agent, 'listening');
    return { mysqlPort: portOf(this.mysql), agentPort: portOf(this.agent) };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.agent.closeAllConnections();
    await Promise.all([new Promise((resolve) => this.agent.close(resolve)), new Promise((resolve) => this.mysql.close(resolve))]);
  }
}

function portOf(server: HttpServer | TcpServer): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not listening on TCP');
  return address.port;
}
