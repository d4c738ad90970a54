import { readFileSync } from 'node:fs';
import type { RunConfig } from '../config.ts';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The passwords the primary sets on the accounts it creates, as the Secret has them now. */
export interface AccountPasswords {
  replication: string;
  app: string;
}

/** And the agent's own, which its peers' mysqld may already have from the Secret (their init SQL). */
export interface SecretPasswordsNow extends AccountPasswords {
  agent: string;
}

/**
 * The agent, replication and application passwords, read again from their Secret files whenever
 * asked (the kubelet swaps a mounted Secret's files when it changes): rotating them needs no restart.
 * A password given in the environment cannot change. A file that cannot be read, or is empty
 * (never a password: the configuration refuses empty ones), leaves the last good value in place.
 */
export class SecretPasswords {
  readonly #files: Record<keyof SecretPasswordsNow, string | null>;
  readonly #log: Logger;
  #last: SecretPasswordsNow;
  /** Files whose problem was logged: read every tick, each says it once until it is readable again. */
  readonly #unreadable = new Set<string>();

  constructor(config: Pick<RunConfig, 'agent' | 'replication' | 'app' | 'passwordFiles'>, log: Logger) {
    this.#files = config.passwordFiles;
    this.#log = log;
    this.#last = { agent: config.agent.password, replication: config.replication.password, app: config.app.password };
  }

  current(): SecretPasswordsNow {
    this.#last = { agent: this.#read('agent'), replication: this.#read('replication'), app: this.#read('app') };
    return this.#last;
  }

  #read(account: keyof SecretPasswordsNow): string {
    const file = this.#files[account];
    if (file === null) return this.#last[account];
    try {
      const password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (password !== '') {
        this.#unreadable.delete(file);
        return password;
      }
      this.#warnOnce(file, 'the password file is empty; keeping the last password');
    } catch (error) {
      this.#warnOnce(file, 'cannot read the password file; keeping the last password', messageOf(error));
    }
    return this.#last[account];
  }

  #warnOnce(file: string, message: string, error?: string): void {
    if (!this.#unreadable.has(file)) this.#log.warn({ file, ...(error && { error }) }, message);
    this.#unreadable.add(file);
  }
}
