// Every command and subcommand answers --help (and -h) with its usage and exit 0, without doing anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

const cli = (...args: string[]) => spawnSync(process.execPath, ['agent/cli.ts', ...args], { encoding: 'utf8', timeout: 30_000 });

const commandLines = [
  ['stage'],
  ['run'],
  ['sandbox'],
  ['sandbox', 'up'],
  ['sandbox', 'stop', 'mysql-ha-0'],
  ['status'],
  ['list'],
  ['switchover'],
  ['reinit'],
  ['failover'],
  ['history'],
  ['pause'],
  ['resume'],
  ['images'],
  ['haproxy-config'],
];

for (const args of commandLines) {
  test(`mysql-ha-agent ${args.join(' ')} --help prints its usage and exits 0`, () => {
    for (const flag of ['--help', '-h']) {
      const result = cli(...args, flag);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^usage:[\\s\\S]*mysql-ha-agent ${args[0]}`), result.stdout);
      assert.equal(result.stderr, '');
    }
  });
}

test('mysql-ha-agent --help lists every command', () => {
  const result = cli('--help');
  assert.equal(result.status, 0);
  for (const [command] of commandLines) assert.match(result.stdout, new RegExp(`mysql-ha-agent ${command} `));
});
