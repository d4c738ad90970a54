import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AgentError, messageOf } from '../errors.ts';

/**
 * Writes `content` atomically (temp file + rename) unless the file already holds it.
 * Returns whether the file changed.
 */
export async function writeFileIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  try {
    if ((await readFile(path, 'utf8')) === content) return false;
  } catch {
    // missing or unreadable: write it
  }
  try {
    await mkdir(dirname(path), { recursive: true });
    const temporary = join(dirname(path), `.${process.pid}.tmp`);
    await writeFile(temporary, content, { mode });
    await rename(temporary, path);
    return true;
  } catch (error) {
    throw new AgentError('FILE_WRITE_FAILED', `cannot write ${path}: ${messageOf(error)}`, { cause: error });
  }
}
