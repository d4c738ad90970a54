import type { Controls, FailoverRequest, ReinitRequest, RestartRequest, SwitchoverRequest } from './state.ts';

/** What the caller of POST /switchover gets: the hand-over done, or why not. */
export type SwitchoverOutcome = { ok: true; from: string; to: string; handoverMs: number } | { ok: false; reason: string };

/** What the caller of POST /reinit gets: the copy started (it runs on; /status shows it), or why not. */
export type ReinitOutcome = { ok: true; donor: string; reason: string } | { ok: false; reason: string };

/** What the caller of POST /restart gets: mysqld restarted (how long it took), or why not. */
export type RestartOutcome = { ok: true; restartMs: number; reason: string } | { ok: false; reason: string };
/** What the caller of POST /failover gets: this node takes the lease now, or why not. */
export type FailoverOutcome = { ok: boolean; reason: string };

/** One request of a kind at a time, waiting for the tick that decides on it. */
class RequestSlot<Request, Outcome> {
  #pending: { request: Request; answer: (outcome: Outcome) => void } | null = null;

  /** Resolves with the decision's outcome; `busy` at once while another request waits. */
  ask(request: Request, busy: Outcome, wake: () => void): Promise<Outcome> {
    if (this.#pending !== null) return Promise.resolve(busy);
    return new Promise((resolve) => {
      this.#pending = { request, answer: resolve };
      wake();
    });
  }

  get current(): Request | null {
    return this.#pending?.request ?? null;
  }

  /** Answers `request` (the one a tick read), unless it was already answered. */
  answer(request: Request, outcome: Outcome): void {
    if (this.#pending?.request !== request) return;
    this.#pending.answer(outcome);
    this.#pending = null;
  }

  close(outcome: Outcome): void {
    if (this.#pending) this.answer(this.#pending.request, outcome);
  }
}

/**
 * Requests into the loop: HTTP writes them here, each tick reads them as plain data
 * (`Controls`) and answers a switchover request with the outcome of its decision.
 * One switchover at a time; a new request while one is pending is refused at once.
 */
export class ControlInbox {
  #paused: boolean;
  readonly #switchover = new RequestSlot<SwitchoverRequest, SwitchoverOutcome>();
  readonly #reinit = new RequestSlot<ReinitRequest, ReinitOutcome>();
  readonly #failover = new RequestSlot<FailoverRequest, FailoverOutcome>();
  readonly #restart = new RequestSlot<RestartRequest, RestartOutcome>();
  #listener: () => void = () => undefined;
  #termination: { since: number; done: Promise<void>; resolve: () => void } | null = null;
  #failsafePromise: { primary: string; until: number } | null = null;

  constructor(paused: boolean) {
    this.#paused = paused;
  }

  /** Called on every new request (the loop wakes up to read it). */
  onRequest(listener: () => void): void {
    this.#listener = listener;
  }

  get paused(): boolean {
    return this.#paused;
  }

  setPaused(paused: boolean): void {
    this.#paused = paused;
    this.#listener();
  }

  /** Resolves once a tick has decided on the request (and carried out the hand-over, if any). */
  requestSwitchover(candidate: string | null): Promise<SwitchoverOutcome> {
    const pending = this.#switchover.current?.candidate ?? 'the most advanced replica';
    return this.#switchover.ask({ candidate }, { ok: false, reason: `a switchover (to ${pending}) is already in progress` }, this.#listener);
  }

  /** Resolves once a tick has decided on the request: the copy started, or refused. One at a time. */
  requestReinit(donor: string | null): Promise<ReinitOutcome> {
    return this.#reinit.ask({ donor }, { ok: false, reason: 'a reinit request is already waiting for the loop' }, this.#listener);
  }

  /** Answers the reinit request a tick read, unless it was already answered. */
  answerReinit(request: ReinitRequest, outcome: ReinitOutcome): void {
    this.#reinit.answer(request, outcome);
  }

  /** Resolves once mysqld has been restarted, or the request refused. One at a time. */
  requestRestart(): Promise<RestartOutcome> {
    return this.#restart.ask({}, { ok: false, reason: 'a restart is already in progress' }, this.#listener);
  }

  /** Answers the restart request a tick read, unless it was already answered. */
  answerRestart(request: RestartRequest, outcome: RestartOutcome): void {
    this.#restart.answer(request, outcome);
  }

  /** Resolves once a tick has decided: this node takes the free lease now, or refused. One at a time. */
  requestFailover(force: boolean): Promise<FailoverOutcome> {
    return this.#failover.ask({ force }, { ok: false, reason: 'a failover request is already waiting for the loop' }, this.#listener);
  }

  /** Answers the failover request a tick read, unless it was already answered. */
  answerFailover(request: FailoverRequest, outcome: FailoverOutcome): void {
    this.#failover.answer(request, outcome);
  }

  get terminating(): boolean {
    return this.#termination !== null;
  }

  /**
   * The pod is being deleted: from now on every tick decides as a terminating node (hand the
   * lease over, then nothing). Resolves once a tick found nothing left to do before mysqld stops.
   */
  terminate(now: number): Promise<void> {
    if (this.#termination === null) {
      let resolve: () => void = () => undefined;
      const done = new Promise<void>((settle) => {
        resolve = settle;
      });
      this.#termination = { since: now, done, resolve };
      this.#listener();
    }
    return this.#termination.done;
  }

  /** A tick decided that this terminating node has nothing left to do. */
  terminated(): void {
    this.#termination?.resolve();
  }

  /** Something changed elsewhere (a peer handed this node the lease): look again now. */
  nudge(): void {
    this.#listener();
  }

  /** A primary cut off from the lease store asked this node to follow it and take no lease until `until`. */
  promiseFailsafe(primary: string, until: number): void {
    if (this.#failsafePromise?.primary === primary && this.#failsafePromise.until >= until) return;
    this.#failsafePromise = { primary, until };
  }

  /** This tick's inputs. */
  read(): Controls {
    return {
      paused: this.#paused,
      switchover: this.#switchover.current,
      reinit: this.#reinit.current,
      restart: this.#restart.current,
      failover: this.#failover.current,
      terminatingSince: this.#termination?.since ?? null,
      failsafePromise: this.#failsafePromise,
    };
  }

  /** Answers `request` (the one a tick read), unless it was already answered. */
  answer(request: SwitchoverRequest, outcome: SwitchoverOutcome): void {
    this.#switchover.answer(request, outcome);
  }

  /** The agent is stopping: nobody will decide on a pending request. */
  close(): void {
    const stopping = { ok: false as const, reason: 'the agent is stopping' };
    this.#switchover.close(stopping);
    this.#reinit.close(stopping);
    this.#failover.close(stopping);
    this.#restart.close(stopping);
  }
}
