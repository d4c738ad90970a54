import type { Clock } from '../../agent/loop/clock.ts';

/** A clock that moves only when a test moves it. */
export class FakeClock implements Clock {
  #now: number;

  constructor(start: number) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}
