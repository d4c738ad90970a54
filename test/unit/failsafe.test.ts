import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerFailsafe, type FailsafeAnswer } from '../../agent/loop/failsafe.ts';
import type { Observation } from '../../agent/loop/state.ts';
import { asReplica, heldBy, observed, PRIMARY, streaming, up } from '../support/observations.ts';

const storeDown = { state: 'unknown' as const, error: 'etcd: connection refused' };
const following = up({ replica: streaming() });

// A peer's answer to the primary's failsafe request, from its own latest observation.
const rows: { name: string; observation: Observation | null; ok: boolean; reason: RegExp }[] = [
  {
    name: 'follows it and cannot reach the store either: confirms',
    observation: observed(following, { lease: storeDown }),
    ok: true,
    reason: /mysql-ha-1 follows mysql-ha-0 and cannot reach the lease store either \(etcd: connection refused\)/,
  },
  {
    name: 'reaches the store: the lease decides',
    observation: observed(following, { lease: heldBy(PRIMARY.name, 'mysql-ha-1') }),
    ok: false,
    reason: /reaches the lease store \(the lease is held by mysql-ha-0\)/,
  },
  {
    name: 'follows another node',
    observation: observed(up({ replica: streaming({ sourceHost: '127.0.10.3' }) }), { lease: storeDown }),
    ok: false,
    reason: /does not follow mysql-ha-0 \(its source is 127\.0\.10\.3\)/,
  },
  { name: 'follows nobody', observation: observed(up(), { lease: storeDown }), ok: false, reason: /does not follow mysql-ha-0 \(its source is none\)/ },
  { name: 'its mysqld is down', observation: observed({ up: false, error: 'ECONNREFUSED' }, { lease: storeDown }), ok: false, reason: /mysqld is down/ },
  { name: 'nothing observed yet', observation: null, ok: false, reason: /has not observed its node yet/ },
];

for (const row of rows) {
  test(`failsafe answer: ${row.name}`, () => {
    const answer: FailsafeAnswer = answerFailsafe(row.observation, asReplica, PRIMARY.name);
    assert.equal(answer.ok, row.ok);
    assert.match(answer.reason, row.reason);
  });
}
