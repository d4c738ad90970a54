import { ApiException } from '@kubernetes/client-node';
import { messageOf } from '../errors.ts';

export interface ApiFailure {
  /** HTTP status, when the API server answered. */
  status?: number;
  /** The Status reason, e.g. Forbidden or NotFound. */
  reason?: string;
  message: string;
}

interface StatusBody {
  message?: string;
  reason?: string;
}

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return typeof body === 'object' && body !== null ? (body as StatusBody) : {};
}

/** What the API server said (its Status message), or why it could not be reached. */
export function describeApiFailure(error: unknown): ApiFailure {
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    const reason = status.reason ?? (error.code === 401 ? 'Unauthorized' : undefined);
    return { status: error.code, reason, message: `${error.code}${reason ? ` ${reason}` : ''}: ${status.message ?? 'no message'}` };
  }
  // fetch puts the network error (ECONNREFUSED, a TLS failure...) in `cause`.
  const cause = error instanceof Error && error.cause !== undefined ? `: ${messageOf(error.cause)}` : '';
  return { message: `${messageOf(error)}${cause}` };
}

/** What the operator should do about a failed call to the API. */
export function hintFor(failure: ApiFailure, verb: string, resource: string): string {
  switch (failure.status) {
    case 401:
      return 'the API server rejected the service-account token: check that the pod mounts one (automountServiceAccountToken)';
    case 403:
      return `grant "${verb}" on ${resource} to the agent's ServiceAccount (see the Role in manifests/rbac.yaml)`;
    case 404:
      return 'check that POD_NAME and the namespace name the running pod and its StatefulSet';
    case undefined:
      return 'check that the API server is reachable from the pod; the agent tries again on its next call';
    default:
      return 'the agent tries again on its next call';
  }
}
