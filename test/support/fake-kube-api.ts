// A stand-in for the Kubernetes API server, for tests on a machine without a cluster.
// It serves only what the agent and its CLI use, and follows the real API's documented rules for
// those calls (https://kubernetes.io/docs/reference/using-api/api-concepts/):
//  - pods: get, list (an equality-based labelSelector: k=v, k==v, k!=v, comma-separated),
//    patch (JSON merge patch; strategic merge patch is applied as a JSON merge
//    patch, which is the same for labels and annotations; other patch types get 415);
//  - events: create; statefulsets: get; coordination.k8s.io leases: get, create, update (PUT);
//  - every write that changes an object gives it a new metadata.resourceVersion from one
//    counter, as etcd's revision does; a patch that changes nothing writes nothing;
//  - errors are JSON Status objects: 404 NotFound for a missing object, 409 AlreadyExists
//    for creating an existing one, 409 Conflict for a PUT or patch whose
//    metadata.resourceVersion is not the current one, 401 without the expected bearer
//    token, 403 for a verb the test denied, 405 for a verb this fake does not serve.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { requireTool } from './tools.ts';

export type Verb = 'get' | 'list' | 'patch' | 'create' | 'update';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

interface ResourceType {
  group: string;
  version: string;
  resource: string;
  kind: string;
  verbs: readonly Verb[];
}

const resourceTypes: readonly ResourceType[] = [
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', verbs: ['get', 'list', 'patch'] },
  { group: '', version: 'v1', resource: 'events', kind: 'Event', verbs: ['create'] },
  { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet', verbs: ['get'] },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', verbs: ['get', 'create', 'update'] },
];

const mergePatchTypes = new Set(['application/merge-patch+json', 'application/strategic-merge-patch+json']);

/** Thrown inside a handler to answer with a Status; `details` name the object concerned. */
class StatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, string>;
  constructor(code: number, reason: string, message: string, details: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

function qualifiedResource(type: ResourceType): string {
  return type.group ? `${type.resource}.${type.group}` : type.resource;
}

function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

function notFound(type: ResourceType, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${qualifiedResource(type)} "${name}" not found`, { name, group: type.group, kind: type.resource });
}

function conflict(type: ResourceType, name: string): StatusError {
  return new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": the object has been modified; ` +
      'please apply your changes to the latest version and try again',
    { name, group: type.group, kind: type.resource },
  );
}

/** RFC 7386: objects merge key by key, null deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function parseRoute(path: string): { type: ResourceType; namespace: string; name: string | undefined } | undefined {
  const match = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (!match) return undefined;
  const [, coreVersion, group = '', groupVersion, namespace, resource, name] = match;
  const version = coreVersion ?? groupVersion;
  const type = resourceTypes.find((t) => t.group === group && t.version === version && t.resource === resource);
  return type ? { type, namespace: decodeURIComponent(namespace!), name: name === undefined ? undefined : decodeURIComponent(name) } : undefined;
}

function verbOf(method: string, hasName: boolean): Verb | undefined {
  if (hasName) return ({ GET: 'get', PATCH: 'patch', PUT: 'update' } as const)[method as 'GET' | 'PATCH' | 'PUT'];
  return ({ GET: 'list', POST: 'create' } as const)[method as 'GET' | 'POST'];
}

/** An equality-based label selector as a predicate on labels; a malformed one is a 400, as the API answers it. */
function labelSelector(selector: string | null): (labels: Record<string, string>) => boolean {
  const requirements = (selector ?? '')
    .split(',')
    .filter(Boolean)
    .map((term) => {
      const match = /^\s*([A-Za-z0-9./_-]+)\s*(!=|==|=)\s*([A-Za-z0-9._-]*)\s*$/.exec(term);
      if (!match) throw new StatusError(400, 'BadRequest', `unable to parse requirement: ${term}`);
      return { key: match[1]!, equal: match[2] !== '!=', value: match[3]! };
    });
  return (labels) => requirements.every(({ key, equal, value }) => (labels[key] === value) === equal);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new StatusError(400, 'BadRequest', `the request body is not JSON: ${(error as Error).message}`);
  }
}

function asObject(value: unknown): KubeObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StatusError(400, 'BadRequest', 'the request body must be a JSON object');
  }
  const object = value as KubeObject;
  object.metadata ??= {};
  return object;
}

export interface FakeKubeApiOptions {
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  /** The user named in 403 messages. */
  user?: string;
  objects?: KubeObject[];
  /** Serve https:// with this key and certificate (PEM), as a real API server does; default plain http://. */
  tls?: { key: string; cert: string };
  /** The address to listen on (default 127.0.0.1; a Docker network's gateway for agents in containers). */
  host?: string;
}

export interface FakeKubeApi {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Stores objects as they are (plus uid, resourceVersion, creationTimestamp), without a request. */
  seed(...objects: KubeObject[]): void;
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  /** From now on, answer `verb` on `resource` with 403 Forbidden, as RBAC would. */
  deny(verb: Verb, resource: string): void;
  allow(verb: Verb, resource: string): void;
  /** From now on, answer `verb` on `resource` with 403 for every object not named in `names` (RBAC resourceNames). */
  allowOnly(verb: Verb, resource: string, names: string[]): void;
  /** Every answer from now on is sent this much later (a slow or distant API server). */
  setLatency(ms: number): void;
  /** Stops answering (connections reset, the port closed) until up(): an API server restarting. */
  down(): Promise<void>;
  /** Listens again on the same address and port, with everything it stored. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A key and self-signed certificate for `ip` (PEM), written into `dir` as key.pem and
 * cert.pem, for `tls`: the certificate is its own CA, as a pod's ca.crt is for the API server.
 */
export function selfSignedCertificate(dir: string, ip = '127.0.0.1'): { key: string; cert: string } {
  const openssl = requireTool('/usr/bin/openssl', 'install openssl (`apt-get install openssl`)');
  const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  const newKey = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'];
  const subject = ['-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`];
  const result = spawnSync(openssl, [...newKey, ...subject, '-keyout', keyFile, '-out', certFile], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl could not make a test certificate: ${result.error?.message ?? result.stderr}`);
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const store = new Map<string, KubeObject>();
  const denied = new Set<string>();
  const namedOnly = new Map<string, Set<string>>();
  const requests: RecordedRequest[] = [];
  let revision = 1000;
  const key = (resource: string, namespace: string, name: string) => `${resource}/${namespace}/${name}`;
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  function write(type: ResourceType, namespace: string, object: KubeObject, previous: KubeObject | undefined): KubeObject {
    const stored = structuredClone(object);
    stored.apiVersion = apiVersionOf(type);
    stored.kind = type.kind;
    stored.metadata.namespace = namespace;
    stored.metadata.uid = previous?.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp = previous?.metadata.creationTimestamp ?? now();
    stored.metadata.resourceVersion = String(++revision);
    store.set(key(type.resource, namespace, stored.metadata.name!), stored);
    return structuredClone(stored);
  }

  function seed(...objects: KubeObject[]): void {
    for (const object of objects) {
      const type = resourceTypes.find((t) => apiVersionOf(t) === object.apiVersion && t.kind === object.kind);
      if (!type) throw new Error(`the fake API server does not store ${object.apiVersion} ${object.kind}`);
      const { name, namespace } = object.metadata;
      if (!name || !namespace) throw new Error('seeded objects need metadata.name and metadata.namespace');
      write(type, namespace, object, undefined);
    }
  }

  async function handle(request: IncomingMessage): Promise<{ code: number; body: unknown }> {
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://fake');
    const path = url.pathname;
    const contentType = request.headers['content-type']?.split(';')[0]?.trim();
    const text = await readBody(request);
    requests.push({ method, path, contentType, body: text ? safeJson(text) : undefined });

    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
      throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    }
    const route = parseRoute(path);
    if (!route) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const { type, namespace, name } = route;
    const verb = verbOf(method, name !== undefined);
    if (!verb || !type.verbs.includes(verb)) {
      throw new StatusError(405, 'MethodNotAllowed', `the fake API server does not serve ${method} on ${qualifiedResource(type)}${name ? ' by name' : ''}`);
    }
    const named = namedOnly.get(`${verb} ${type.resource}`);
    if (denied.has(`${verb} ${type.resource}`) || (named !== undefined && (name === undefined || !named.has(name)))) {
      const user = options.user ?? 'system:serviceaccount:default:mysql-ha';
      throw new StatusError(
        403,
        'Forbidden',
        `${qualifiedResource(type)}${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${type.resource}" ` +
          `in API group "${type.group}" in the namespace "${namespace}"`,
        { name: name ?? '', group: type.group, kind: type.resource },
      );
    }
    const current = name === undefined ? undefined : store.get(key(type.resource, namespace, name));

    switch (verb) {
      case 'get':
        if (!current) throw notFound(type, name!);
        return { code: 200, body: structuredClone(current) };

      case 'list': {
        const selected = labelSelector(url.searchParams.get('labelSelector'));
        const items = [...store.entries()]
          .filter(([stored, object]) => stored.startsWith(key(type.resource, namespace, '')) && selected(object.metadata.labels ?? {}))
          .map(([, object]) => structuredClone(object));
        return { code: 200, body: { apiVersion: apiVersionOf(type), kind: `${type.kind}List`, metadata: { resourceVersion: String(revision) }, items } };
      }

      case 'create': {
        const object = asObject(parseJson(text));
        if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) {
          throw new StatusError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
        }
        if (!object.metadata.name && object.metadata.generateName) {
          object.metadata.name = `${object.metadata.generateName}${randomUUID().slice(0, 5)}`;
        }
        const objectName = object.metadata.name;
        if (!objectName) {
          throw new StatusError(422, 'Invalid', `${type.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {
            kind: type.kind,
          });
        }
        if (store.has(key(type.resource, namespace, objectName))) {
          throw new StatusError(409, 'AlreadyExists', `${qualifiedResource(type)} "${objectName}" already exists`, {
            name: objectName,
            group: type.group,
            kind: type.resource,
          });
        }
        delete object.metadata.resourceVersion;
        return { code: 201, body: write(type, namespace, object, undefined) };
      }

      case 'update': {
        const object = asObject(parseJson(text));
        if (object.metadata.name !== name) {
          throw new StatusError(400, 'BadRequest', `the name of the object (${object.metadata.name ?? ''}) does not match the name on the URL (${name})`);
        }
        if (!current) throw notFound(type, name!);
        // Without a resourceVersion the update is unconditional, as the API allows for leases.
        if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== current.metadata.resourceVersion) {
          throw conflict(type, name!);
        }
        return { code: 200, body: write(type, namespace, object, current) };
      }

      case 'patch': {
        if (!contentType || !mergePatchTypes.has(contentType)) {
          throw new StatusError(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: ${[...mergePatchTypes].join(', ')}`,
          );
        }
        if (!current) throw notFound(type, name!);
        const patch = asObject(parseJson(text));
        if (patch.metadata.resourceVersion !== undefined && patch.metadata.resourceVersion !== current.metadata.resourceVersion) {
          throw conflict(type, name!);
        }
        const patched = applyMergePatch(current, patch) as KubeObject;
        patched.metadata = {
          ...patched.metadata,
          name,
          namespace,
          uid: current.metadata.uid,
          creationTimestamp: current.metadata.creationTimestamp,
          resourceVersion: current.metadata.resourceVersion,
        };
        if (isDeepStrictEqual(patched, current)) return { code: 200, body: structuredClone(current) };
        return { code: 200, body: write(type, namespace, patched, current) };
      }
    }
  }

  let latencyMs = 0;
  const later = () => (latencyMs === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, latencyMs)));
  const listener = (request: IncomingMessage, response: ServerResponse) => {
    handle(request)
      .catch((error: unknown) => {
        const status = error instanceof StatusError ? error : new StatusError(500, 'InternalError', `fake API server failure: ${(error as Error).message}`);
        const body = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: status.message,
          reason: status.reason,
          details: status.details,
          code: status.code,
        };
        return { code: status.code, body };
      })
      .then(async ({ code, body }) => {
        await later();
        send(response, code, body);
      });
  };
  const server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
  const host = options.host ?? '127.0.0.1';
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  seed(...(options.objects ?? []));

  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    requests,
    seed,
    get: (resource, namespace, name) => {
      const object = store.get(key(resource, namespace, name));
      return object && structuredClone(object);
    },
    list: (resource, namespace) =>
      [...store.entries()]
        .filter(([k]) => k.startsWith(`${resource}/${namespace === undefined ? '' : `${namespace}/`}`))
        .map(([, object]) => structuredClone(object)),
    deny: (verb, resource) => {
      denied.add(`${verb} ${resource}`);
    },
    allow: (verb, resource) => {
      denied.delete(`${verb} ${resource}`);
      namedOnly.delete(`${verb} ${resource}`);
    },
    allowOnly: (verb, resource, names) => {
      namedOnly.set(`${verb} ${resource}`, new Set(names));
    },
    setLatency: (ms) => {
      latencyMs = ms;
    },
    down: async () => {
      // Stop accepting first, so no connection slips in between the two calls and holds close() open.
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
    up: async () => {
      // Idempotent, so a test's cleanup can call it whether or not the step that took the server down was reached.
      if (server.listening) return;
      server.listen(port, host);
      await once(server, 'listening');
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function send(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
