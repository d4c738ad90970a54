import { readFileSync } from 'node:fs';
import { Agent, fetch, type Response } from 'undici';
import { AgentError } from '../errors.ts';

/** Node's codes for a certificate that does not verify (unknown CA, wrong name, expired…). */
const CERTIFICATE_ERROR = /CERT|SIGNATURE|ISSUER/;

export interface AgentRequest {
  method?: 'GET' | 'POST';
  /** The control token (MYSQL_HA_SWITCHOVER_TOKEN), sent as a bearer token when there is one. */
  token?: string | null;
  /** Sent as JSON. */
  body?: unknown;
  timeoutMs: number;
}

/**
 * How agents, the CLI and the sandbox reach an agent's HTTP API: plain HTTP, or, with the
 * cluster's CA (MYSQL_HA_TLS_DIR's ca.crt), HTTPS where the agent's certificate must be signed by
 * that CA alone and name the host asked for (a DNS name or an IP address). Node's fetch cannot
 * be given a CA, undici's can; one connection pool per client.
 */
export class AgentClient {
  readonly caFile: string | null;
  /** The name the agent's certificate must have, when it is reached by another (its pod's IP from outside the pod network). */
  readonly serverName: string | undefined;
  #dispatcher: Agent;

  constructor(caFile: string | null, serverName?: string) {
    this.caFile = caFile;
    this.serverName = serverName;
    this.#dispatcher = this.#newDispatcher();
  }

  get scheme(): 'http' | 'https' {
    return this.caFile === null ? 'http' : 'https';
  }

  /** The base URL of the agent listening on host:port. */
  url(host: string, port: number): string {
    return `${this.scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** Rejects as fetch does, except that a certificate that does not verify is an AGENT_CERTIFICATE_REFUSED error naming the agent. */
  async request(url: string, { method = 'GET', token = null, body, timeoutMs }: AgentRequest): Promise<Response> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        dispatcher: this.#dispatcher,
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown; message?: string } }).cause;
      if (this.caFile === null || !CERTIFICATE_ERROR.test(String(cause?.code))) throw error;
      // Node suggests the system's CAs; here only the cluster's CA counts.
      const why = String(cause?.message).replace(/; if the root CA is installed locally.*$/, '');
      throw new AgentError('AGENT_CERTIFICATE_REFUSED', `the certificate of the agent at ${new URL(url).host} was refused: ${why}`, {
        cause: error,
        hintInMessage: true,
      });
    }
  }

  /** The CA file changed (a renewed Secret): new connections verify with its contents from now on. */
  reloadCa(): void {
    const previous = this.#dispatcher;
    this.#dispatcher = this.#newDispatcher();
    void previous.close();
  }

  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  #newDispatcher(): Agent {
    // Only this CA: a certificate from a public CA (or another cluster's) is refused.
    return new Agent(this.caFile === null ? {} : { connect: { ca: readFileSync(this.caFile), servername: this.serverName } });
  }
}
