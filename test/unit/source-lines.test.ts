// House rule the formatter cannot enforce (it never splits a string): no line of a test over 160 characters.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const MAX = 160;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

test(`no line in test/ is longer than ${MAX} characters`, () => {
  const long = tsFiles('test').flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (line.length > MAX ? [`${file}:${index + 1} (${line.length})`] : [])),
  );
  assert.deepEqual(long, [], `split these lines:\n${long.join('\n')}`);
});
