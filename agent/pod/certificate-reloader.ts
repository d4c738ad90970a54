import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { TlsFiles } from '../config.ts';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';

/** How often the certificate files are read for a change: cert-manager renews days before expiry. */
export const CERTIFICATE_CHECK_MS = 10_000;

/**
 * mysqld and the agent's HTTPS server read their certificate files only at their start; a
 * renewed Secret (the kubelet swaps the mounted files) would otherwise be presented only after a
 * restart, or never before the old certificate expires. Has them read again (mysqld, the agent's
 * server, its peers' CA) whenever the files' contents differ from what was last loaded, and once
 * at the agent's start (mysqld may have started before a renewal).
 */
export class CertificateReloader {
  readonly #files: TlsFiles;
  readonly #reload: () => Promise<unknown>;
  readonly #log: Logger;
  /** The digest of the files last loaded on our request. */
  #loaded: string | null = null;

  constructor(files: TlsFiles, reload: () => Promise<unknown>, log: Logger) {
    this.#files = files;
    this.#reload = reload;
    this.#log = log;
  }

  /** Reloads when the files changed; never rejects (a failure is logged and retried at the next check). */
  async check(): Promise<'reloaded' | 'unchanged' | 'failed'> {
    try {
      const digest = await this.#digest();
      if (digest === this.#loaded) return 'unchanged';
      await this.#reload();
      if (this.#loaded !== null)
        this.#log.info({ certificate: this.#files.certFile }, 'certificate files changed: mysqld and the agent present the new certificate');
      this.#loaded = digest;
      return 'reloaded';
    } catch (error) {
      this.#log.warn(
        { certificate: this.#files.certFile, error: messageOf(error) },
        'cannot load the certificate files again; retrying (check that tls.crt, tls.key and ca.crt belong together, and that mysqld runs)',
      );
      return 'failed';
    }
  }

  async #digest(): Promise<string> {
    const hash = createHash('sha256');
    for (const file of [this.#files.caFile, this.#files.certFile, this.#files.keyFile]) hash.update(await readFile(file));
    return hash.digest('hex');
  }
}
