import type { Controls, ReinitRequest, SwitchoverRequest } from './state.ts';

/** What the caller of POST /switchover gets: the hand-over done, or why not. */
export type SwitchoverOutcome = { ok: true; from: string; to: string; handoverMs: number } | { ok: false; reason: string };

/** What the caller of POST /reinit gets: the copy started (it runs on; /status shows it), or why not. */
export type ReinitOutcome = { ok: true; donor: string; reason: string } | { ok: false; reason: string };

/**
 * Requests into the loop: HTTP writes them here, each tick reads them as plain data
 * (`Controls`) and answers a switchover request with the outcome of its decision.
 * One switchover at a time; a new request while one is pending is refused at once.
 */
export class ControlInbox {
  #paused: boolean;
  #switchover: { request: SwitchoverRequest; answer: (outcome: SwitchoverOutcome) => void } | null = null;
  #listener: () => void = () => undefined;
  #termination: { since: number; done: Promise<void>; resolve: () => void } | null = null;
  #failsafePromise: { primary: string; until: number } | null = null;
  #reinit: { request: ReinitRequest; answer: (outcome: ReinitOutcome) => void } | null = null;

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
    if (this.#switchover !== null) {
      const pending = this.#switchover.request.candidate ?? 'the most advanced replica';
      return Promise.resolve({ ok: false, reason: `a switchover (to ${pending}) is already in progress` });
    }
    return new Promise((resolve) => {
      this.#switchover = { request: { candidate }, answer: resolve };
      this.#listener();
    });
  }

  /** Resolves once a tick has decided on the request: the copy started, or refused. One at a time. */
  requestReinit(donor: string | null): Promise<ReinitOutcome> {
    if (this.#reinit !== null) return Promise.resolve({ ok: false, reason: 'a reinit request is already waiting for the loop' });
    return new Promise((resolve) => {
      this.#reinit = { request: { donor }, answer: resolve };
      this.#listener();
    });
  }

  /** Answers the reinit request a tick read, unless it was already answered. */
  answerReinit(request: ReinitRequest, outcome: ReinitOutcome): void {
    if (this.#reinit?.request !== request) return;
    this.#reinit.answer(outcome);
    this.#reinit = null;
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
      switchover: this.#switchover?.request ?? null,
      reinit: this.#reinit?.request ?? null,
      terminatingSince: this.#termination?.since ?? null,
      failsafePromise: this.#failsafePromise,
    };
  }

  /** Answers `request` (the one a tick read), unless it was already answered. */
  answer(request: SwitchoverRequest, outcome: SwitchoverOutcome): void {
    if (this.#switchover?.request !== request) return;
    this.#switchover.answer(outcome);
    this.#switchover = null;
  }

  /** The agent is stopping: nobody will decide on a pending request. */
  close(): void {
    if (this.#switchover) this.answer(this.#switchover.request, { ok: false, reason: 'the agent is stopping' });
    if (this.#reinit) this.answerReinit(this.#reinit.request, { ok: false, reason: 'the agent is stopping' });
  }
}
