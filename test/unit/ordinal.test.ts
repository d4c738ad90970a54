import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError } from '../../agent/errors.ts';
import { parsePodName } from '../../agent/pod/ordinal.ts';

test('a StatefulSet pod name gives its set and ordinal', () => {
  assert.deepEqual(parsePodName('mysql-ha-0'), { name: 'mysql-ha-0', statefulSet: 'mysql-ha', ordinal: 0 });
  assert.deepEqual(parsePodName('db-12'), { name: 'db-12', statefulSet: 'db', ordinal: 12 });
});

for (const bad of ['mysql', 'mysql-', '-0', 'mysql-ha-01', 'Mysql-0', 'mysql_ha-1', 'mysql-ha-x', '']) {
  test(`"${bad}" is refused with a message naming it`, () => {
    assert.throws(
      () => parsePodName(bad),
      (error: unknown) => {
        assert.ok(error instanceof AgentError);
        assert.equal(error.code, 'MHA_POD_NAME_INVALID');
        assert.match(error.message, new RegExp(`POD_NAME "${bad}"`));
        return true;
      },
    );
  });
}
