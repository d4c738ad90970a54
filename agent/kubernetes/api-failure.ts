import { ApiException } from '@kubernetes/client-node';
import { AgentError, messageOf } from '../errors.ts';

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

/**
 * The error for a failed call to the API: its registry entry follows the answer's status, and a
 * refusal (403) names the verb to grant on `resource`. `message` says what failed, on which
 * object. What to do and the code are in the message too: these errors reach the operator as
 * log lines and in /status.
 */
export function kubernetesApiError(
  message: string,
  failure: ApiFailure,
  verb: string,
  resource: string,
  cause?: unknown,
  forbiddenHint = `grant "${verb}" on ${resource} to the agent's ServiceAccount (see the Role in manifests/rbac.yaml)`,
): AgentError {
  const options = { cause, hintInMessage: true };
  switch (failure.status) {
    case 401:
      return new AgentError('KUBERNETES_UNAUTHORIZED', message, options);
    case 403:
      return new AgentError('KUBERNETES_FORBIDDEN', message, { ...options, hint: forbiddenHint });
    case 404:
      return new AgentError('KUBERNETES_NOT_FOUND', message, options);
    case undefined:
      return new AgentError('KUBERNETES_UNREACHABLE', message, options);
    default:
      return new AgentError('KUBERNETES_API_FAILED', message, options);
  }
}
