// The package's own files (package.json, manifests/, the Dockerfiles) are found from a module's
// path, whether it runs as TypeScript from agent/ or built into dist/agent/ (npm run bench).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError } from './errors.ts';

/** The nearest directory above this module that holds a package.json. */
export function packageRoot(): string {
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new AgentError('PACKAGE_FILES_MISSING', `no package.json in any directory above ${here}`);
  }
}
