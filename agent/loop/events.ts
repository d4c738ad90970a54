import type { Action } from './state.ts';

/** A Kubernetes Event the agent records on its own pod (`kubectl describe pod`, `kubectl get events`). */
export interface PodEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
}

/** The actions an operator wants to see on the pod: what changes who writes, and copies of data. Others (replication set-up, catch-up) are routine. */
const EVENT_REASONS: Partial<Record<Action['kind'], { done: string; failed: string; type: PodEvent['type'] }>> = {
  'acquire-lease': { done: 'LeaseTaken', failed: 'LeaseNotTaken', type: 'Normal' },
  promote: { done: 'Promoted', failed: 'PromotionFailed', type: 'Normal' },
  'hand-over': { done: 'HandedOver', failed: 'HandOverFailed', type: 'Normal' },
  'release-lease': { done: 'LeaseReleased', failed: 'LeaseReleaseFailed', type: 'Normal' },
  'step-down': { done: 'SteppedDown', failed: 'StepDownFailed', type: 'Warning' },
  fence: { done: 'Fenced', failed: 'FencingFailed', type: 'Warning' },
  rebuild: { done: 'Reinitialized', failed: 'ReinitFailed', type: 'Normal' },
  'restart-mysqld': { done: 'MysqldRestarted', failed: 'MysqldRestartFailed', type: 'Normal' },
};

/**
 * The Event for an action carried out (`error` null) or failed, with the decision's reason as
 * its message; null for actions not worth an Event.
 */
export function actionEvent(action: Action, reason: string, error: string | null): PodEvent | null {
  const names = EVENT_REASONS[action.kind];
  if (names === undefined) return null;
  if (error !== null) return { reason: names.failed, message: `${reason}: ${error}`, type: 'Warning' };
  return { reason: names.done, message: reason, type: names.type };
}
