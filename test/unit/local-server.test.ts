// Telling a mysqld that is gone (nothing listens: fail over at once) from one that is there but
// does not answer (too many connections, a slow statement: it gets the grace period).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError } from '../../agent/errors.ts';
import { LocalServer, mysqldGone } from '../../agent/mysql/local-server.ts';

test('a connection refused (no process on the port) is a mysqld that is gone', async () => {
  // Port 1 on a loopback address of this project's unit tests: nothing listens there.
  const server = new LocalServer({ host: '127.0.14.250', port: 1, user: 'agent', password: 'secret', node: 'mysql-ha-0', connectTimeoutMs: 1000 });
  const error = await server.query('SELECT 1').then(
    () => assert.fail('connected to nothing'),
    (failed: unknown) => failed,
  );
  assert.ok(error instanceof AgentError);
  assert.match(error.message, /mysql-ha-0: cannot connect to mysqld at 127\.0\.14\.250:1 as agent: .*ECONNREFUSED/);
  assert.doesNotMatch(error.message, /secret/);
  assert.equal(mysqldGone(error), true);
});

test('a server that answers with an error, or not in time, is not gone', () => {
  const refusedAccount = new AgentError('MYSQL_QUERY_FAILED', 'cannot connect', {
    cause: Object.assign(new Error('Too many connections'), { code: 'ER_CON_COUNT_ERROR' }),
  });
  const timedOut = new AgentError('MYSQL_QUERY_FAILED', 'query failed', {
    cause: Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }),
  });
  assert.equal(mysqldGone(refusedAccount), false);
  assert.equal(mysqldGone(timedOut), false);
  assert.equal(mysqldGone(new Error('no code')), false);
  assert.equal(mysqldGone(Object.assign(new Error('socket file missing'), { code: 'ENOENT' })), true);
});
