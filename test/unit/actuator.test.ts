// The actuator's dispatch: each decided action reaches the right adapter, in the right order.
// The SQL is built by the real MySQL dialect; the servers and the lease are recording fakes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadRunConfig, type Peer } from '../../agent/config.ts';
import { AgentError } from '../../agent/errors.ts';
import { Actuator, type SqlServer } from '../../agent/loop/actuator.ts';
import type { Action } from '../../agent/loop/state.ts';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';
import type { SecretPasswordsNow } from '../../agent/pod/secret-passwords.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { OTHER, PRIMARY, UUID0 } from '../support/observations.ts';

type Row = Record<string, unknown>;

/** Records every statement (and, for peers, which peer) in one shared journal; answers with `answer(sql)`. */
class RecordingServer implements SqlServer {
  readonly name: string;
  readonly journal: string[];
  readonly answer: (sql: string) => Row[];

  constructor(name: string, journal: string[], answer: (sql: string) => Row[] = () => []) {
    this.name = name;
    this.journal = journal;
    this.answer = answer;
  }

  async query(sql: string, values?: unknown[]): Promise<Row[]> {
    this.journal.push(`${this.name}: ${sql}${values ? ` ${JSON.stringify(values)}` : ''}`);
    return this.answer(sql);
  }

  async close(): Promise<void> {
    this.journal.push(`${this.name}: close`);
  }
}

const config = loadRunConfig({
  POD_NAME: 'mysql-ha-0',
  MYSQL_HA_AGENT_PASSWORD: 'agent-secret',
  MYSQL_HA_REPLICATION_PASSWORD: 'repl-secret',
  MYSQL_HA_APP_PASSWORD: 'app-secret',
});
const dialect = dialectForFlavor('mysql');
const variablesRow = { serverId: 100, serverUuid: UUID0, readOnly: 1, gtidExecuted: `${UUID0}:1-42`, gtidPurged: '', semiSyncSource: 1 };

/** The Secret as the actuator reads it; a test rotates a password by changing it. */
const secretFor = () => ({ agent: 'agent-secret', replication: 'repl-secret', app: 'app-secret' });

function actuatorFor(
  options: {
    peerAnswers?: Array<Row[]>;
    clock?: FakeClock;
    onPeerQuery?: () => void;
    localAnswer?: (sql: string) => Row[];
    secret?: SecretPasswordsNow;
    /** Every statement to a peer fails as when its mysqld cannot be reached. */
    peerUnreachable?: boolean;
  } = {},
) {
  const journal: string[] = [];
  const clock = options.clock ?? new FakeClock(0);
  const local = new RecordingServer('local', journal, options.localAnswer ?? ((sql) => (sql === dialect.variablesQuery ? [variablesRow] : [])));
  const answers = [...(options.peerAnswers ?? [])];
  const lease = {
    acquire: async (expectedVersion: string | null, reason: string) => void journal.push(`lease: acquire ${expectedVersion} (${reason})`),
    release: async () => void journal.push('lease: release'),
    handOver: async (candidate: string) => void journal.push(`lease: hand over to ${candidate}`),
    observe: async (keep: boolean) => {
      journal.push(`lease: observe keep=${keep}`);
      return { lease: { state: 'unknown' as const, error: 'not used' }, heldUntil: null, leaseChanges: [] };
    },
  };
  const connectPeer = (peer: Peer) =>
    new RecordingServer(peer.name, journal, (sql) => {
      if (options.peerUnreachable) throw new AgentError('MYSQL_QUERY_FAILED', `${peer.name}: cannot connect to mysqld: connect ETIMEDOUT`);
      // A hand-over's first statement only connects.
      if (sql === 'SELECT 1') return [{ 1: 1 }];
      options.onPeerQuery?.();
      return answers.shift() ?? [];
    });
  const nudge = async (peer: Peer | null) => void journal.push(`nudge ${peer?.name ?? 'every peer'}`);
  const secret = options.secret ?? secretFor();
  const actuator = new Actuator({
    server: local,
    dialect,
    config,
    lease,
    connectPeer,
    connectLocal: () => new RecordingServer('local (second session)', journal),
    nudge,
    passwords: { current: () => ({ ...secret }) },
    clock,
    streamedCopy: null,
    reportCopy: (progress) => void journal.push(`progress: ${JSON.stringify(progress)}`),
  });
  return { actuator, journal };
}

const dispatch: Array<[Action, RegExp[]]> = [
  [{ kind: 'acquire-lease', expectedVersion: '7', reason: 'the lease is free' }, [/^lease: acquire 7 \(the lease is free\)$/]],
  // The replicas are told to look at once: the lease is free.
  [{ kind: 'release-lease' }, [/^lease: release$/, /^nudge every peer$/]],
  [{ kind: 'step-down' }, [/read_only/i, /^lease: release$/, /^nudge every peer$/]],
  [{ kind: 'start-replication' }, [/^local: START REPLICA$/]],
  [{ kind: 'start-io-thread' }, [/^local: START REPLICA IO_THREAD$/]],
  [{ kind: 'fence' }, [/PROCESSLIST/, /super_read_only/i, /PROCESSLIST/, /rpl_semi_sync_source_enabled/i]],
  [
    { kind: 'promote', semiSyncAcks: 2 },
    [
      /^local: STOP REPLICA$/,
      /^local: RESET REPLICA ALL$/,
      /read_only/i,
      /CREATE DATABASE/,
      /wait_for_replica_count = 2$/,
      /rpl_semi_sync_source_enabled = ON$/,
    ],
  ],
  [{ kind: 'set-semi-sync-acks', count: 2 }, [/^local: SET GLOBAL rpl_semi_sync_source_wait_for_replica_count = 2$/]],
  [{ kind: 'configure-replication', source: PRIMARY }, [/^local: STOP REPLICA$/, /SOURCE_HOST/, /^local: START REPLICA$/]],
  [
    { kind: 'rebuild', donor: PRIMARY },
    [
      /^local: STOP REPLICA$/,
      /^progress: \{"stage":"receiving","donor":"mysql-ha-0","bytes":0\}$/,
      /clone_valid_donor_list.*127\.0\.10\.1:3306/,
      /^local: CLONE INSTANCE FROM/,
      /^local \(second session\): close$/,
    ],
  ],
];

for (const [action, expected] of dispatch) {
  test(`actuator: ${action.kind} runs ${expected.length} step(s) in order`, async () => {
    const { actuator, journal } = actuatorFor();
    await actuator.run(action);
    let at = 0;
    for (const step of expected) {
      const found = journal.findIndex((line, index) => index >= at && step.test(line));
      assert.ok(found >= 0, `${step} not found after step ${at} in:\n${journal.join('\n')}`);
      at = found + 1;
    }
  });
}

test("actuator: the accounts' and the replication channel's passwords follow the Secret, and a change of either is reported", async () => {
  const secret = secretFor();
  const { actuator, journal } = actuatorFor({ secret });
  assert.deepEqual(actuator.passwordsChanged(), { accounts: true, replication: true }, 'nothing set by this agent yet');
  await actuator.run({ kind: 'setup-primary', semiSyncAcks: 1 });
  await actuator.run({ kind: 'configure-replication', source: PRIMARY });
  assert.deepEqual(actuator.passwordsChanged(), { accounts: false, replication: false });
  assert.ok(journal.some((line) => line.includes("ALTER USER 'mysqlha_repl'@'%' IDENTIFIED BY 'repl-secret'")));

  secret.app = 'app-rotated';
  assert.deepEqual(actuator.passwordsChanged(), { accounts: true, replication: false });
  secret.replication = 'repl-rotated';
  assert.deepEqual(actuator.passwordsChanged(), { accounts: true, replication: true });
  journal.length = 0;
  await actuator.run({ kind: 'rotate-passwords' });
  assert.deepEqual(journal, [
    "local: ALTER USER 'mysqlha_repl'@'%' IDENTIFIED BY 'repl-rotated' REQUIRE NONE",
    "local: ALTER USER 'app'@'%' IDENTIFIED BY 'app-rotated'",
  ]);
  assert.deepEqual(actuator.passwordsChanged(), { accounts: false, replication: true });
  await actuator.run({ kind: 'configure-replication', source: PRIMARY });
  assert.deepEqual(actuator.passwordsChanged(), { accounts: false, replication: false });

  // A clone logs in to the donor with the agent's password as the Secret has it now.
  secret.agent = 'agent-rotated';
  journal.length = 0;
  await actuator.run({ kind: 'rebuild', donor: PRIMARY });
  assert.match(journal.find((line) => line.startsWith('local: CLONE INSTANCE')) ?? '', /"agent-rotated"/);
  // The copy's channel is the donor's: configured afresh once it does not connect.
  assert.deepEqual(actuator.passwordsChanged(), { accounts: false, replication: true });
});

test('actuator: a rebuild where no copy can be made (MariaDB without mariadb-backup) fails with CANNOT_CLONE and touches nothing', async () => {
  const journal: string[] = [];
  const lease = { acquire: async () => {}, release: async () => {}, handOver: async () => {}, observe: async () => assert.fail('not used') };
  const actuator = new Actuator({
    server: new RecordingServer('local', journal),
    dialect: dialectForFlavor('mariadb'),
    config,
    lease,
    connectPeer: () => assert.fail('not used'),
    connectLocal: () => assert.fail('not used'),
    nudge: async () => assert.fail('not used'),
    passwords: { current: secretFor },
    clock: new FakeClock(0),
    streamedCopy: null,
    reportCopy: () => assert.fail('not used'),
  });
  await assert.rejects(actuator.run({ kind: 'rebuild', donor: PRIMARY }), (error: unknown) => error instanceof AgentError && error.code === 'MHA_CANNOT_CLONE');
  assert.deepEqual(journal, []);
});

test('actuator: fence when read-only does not take effect within the status timeout: mysqld is shut down, and the action says so', async () => {
  const { actuator, journal } = actuatorFor({
    localAnswer: (sql) => {
      // What a primary cut off from every replica answers: super_read_only waits behind commits that wait for an acknowledgement.
      if (sql === 'SET GLOBAL super_read_only = ON') {
        // As LocalServer wraps mysql2's timeout: its code on the cause.
        const cause = Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
        throw new AgentError('MYSQL_QUERY_FAILED', 'mysql-ha-0: "SET GLOBAL super_read_only =…" failed: Query inactivity timeout', { cause });
      }
      return [];
    },
  });
  await assert.rejects(actuator.run({ kind: 'fence' }), (error: AgentError) => {
    assert.equal(error.code, 'MHA_MYSQL_FENCED_BY_SHUTDOWN');
    assert.match(error.message, /mysql-ha-0: read-only did not take effect within 1000 ms, so mysqld was shut down/);
    return true;
  });
  assert.deepEqual(journal.slice(-2), ['local: SET GLOBAL super_read_only = ON', 'local: SHUTDOWN']);
});

test('actuator: fence whose read-only fails for another reason does not shut mysqld down', async () => {
  const { actuator, journal } = actuatorFor({
    localAnswer: (sql) => {
      if (sql === 'SET GLOBAL super_read_only = ON') throw new AgentError('MYSQL_QUERY_FAILED', 'Access denied; you need the SYSTEM_VARIABLES_ADMIN privilege');
      return [];
    },
  });
  await assert.rejects(actuator.run({ kind: 'fence' }), /Access denied/);
  assert.equal(journal.filter((line) => line.includes('SHUTDOWN')).length, 0);
});

test('actuator: none does nothing', async () => {
  const { actuator, journal } = actuatorFor();
  await actuator.run({ kind: 'none' });
  assert.deepEqual(journal, []);
});

test('actuator: configure-replication never inlines the replication password into the SQL text', async () => {
  const { actuator, journal } = actuatorFor();
  await actuator.run({ kind: 'configure-replication', source: PRIMARY });
  const change = journal.find((line) => /SOURCE_HOST/.test(line))!;
  assert.ok(!change.split(' [')[0]!.includes('repl-secret'), change);
});

test('actuator: hand-over stops writes, reads what was executed after that, waits for the candidate, renews meanwhile, then moves the lease', async () => {
  const clock = new FakeClock(0);
  const { actuator, journal } = actuatorFor({ clock, onPeerQuery: () => clock.advance(300), peerAnswers: [[{ applied: 0 }], [{ applied: 1 }]] });
  const phases = await actuator.run({ kind: 'hand-over', candidate: OTHER, timeoutMs: 30_000 });
  assert.deepEqual(
    phases,
    { connectMs: 0, stopWritesMs: 0, catchUpMs: 600, leaseMs: 0, nudgeMs: 0 },
    'where the time went: two waits of 300 ms on the candidate',
  );
  const index = (pattern: RegExp) => journal.findIndex((line) => pattern.test(line));
  const readOnly = index(/^local: .*super_read_only/i);
  assert.ok(index(/^mysql-ha-2: SELECT 1$/) < readOnly, 'connected to the candidate before writes stopped');
  const executed = index(/^local: SELECT @@server_id/);
  const waits = journal.filter((line) => line.startsWith(`${OTHER.name}: SELECT 1 - WAIT_FOR_EXECUTED_GTID_SET`));
  assert.ok(readOnly >= 0 && executed > readOnly, 'the executed set is read after writes stopped');
  assert.equal(waits.length, 2);
  assert.ok(
    waits.every((line) => line.includes(`${UUID0}:1-42`)),
    'the candidate waits for everything this node executed',
  );
  assert.ok(index(/^lease: observe keep=true$/) > executed, 'the lease is renewed between waits');
  assert.ok(index(/^lease: hand over to mysql-ha-2$/) > index(/^mysql-ha-2: close$/), 'the lease moves once the candidate has everything');
  assert.equal(journal.at(-1), 'nudge mysql-ha-2', 'then the candidate is told to look now');
});

test('actuator: hand-over to a candidate that does not catch up in time gives up, keeps the lease, and says so', async () => {
  const clock = new FakeClock(0);
  const { actuator, journal } = actuatorFor({ clock, onPeerQuery: () => clock.advance(10_000), peerAnswers: Array(10).fill([{ applied: 0 }]) });
  await assert.rejects(
    actuator.run({ kind: 'hand-over', candidate: OTHER, timeoutMs: 30_000 }),
    (error: unknown) =>
      error instanceof AgentError &&
      error.code === 'MHA_SWITCHOVER_REFUSED' &&
      /mysql-ha-2 did not catch up within 30 s; mysql-ha-0 stays primary/.test(error.message),
  );
  assert.ok(!journal.some((line) => line.startsWith('lease: hand over')), 'the lease did not move');
  assert.ok(journal.includes('mysql-ha-2: close'), 'the connection to the candidate is closed');
});

test('actuator: hand-over to a candidate whose mysqld cannot be reached is refused before writes stop', async () => {
  const { actuator, journal } = actuatorFor({ peerUnreachable: true });
  await assert.rejects(actuator.run({ kind: 'hand-over', candidate: OTHER, timeoutMs: 30_000 }), /cannot connect to mysqld/);
  assert.ok(!journal.some((line) => /read_only/i.test(line)), 'writes were never stopped');
  assert.ok(journal.includes(`${OTHER.name}: close`));
});

for (const kind of ['promote', 'setup-primary'] as const) {
  test(`actuator: ${kind} tells every peer to look now once this node is set up as primary (their position polls back off)`, async () => {
    const { actuator, journal } = actuatorFor();
    await actuator.run({ kind, semiSyncAcks: 1 });
    assert.equal(journal.at(-1), 'nudge every peer');
    const writable = journal.findIndex((line) => /^local: SET GLOBAL .*read_only = OFF/i.test(line));
    assert.ok(writable >= 0 && writable < journal.length - 1, `not after writes are on:\n${journal.join('\n')}`);
  });
}

test('actuator: setup-primary with the semi-sync source still on from an earlier term turns it off before any write, and on again after', async () => {
  const { actuator, journal } = actuatorFor();
  await actuator.run({ kind: 'setup-primary', semiSyncAcks: 1 });
  const index = (pattern: RegExp) => journal.findIndex((line) => pattern.test(line));
  const off = index(/^local: SET GLOBAL rpl_semi_sync_source_enabled = OFF$/);
  assert.ok(off >= 0, `the semi-sync source was not turned off:\n${journal.join('\n')}`);
  assert.ok(off < index(/^local: CREATE USER/), 'off before the accounts are written (no replica could acknowledge them)');
  assert.ok(index(/^local: SET GLOBAL rpl_semi_sync_source_enabled = ON$/) > index(/^local: CREATE USER/), 'on again once they are');
});

test('actuator: setup-primary with the semi-sync source off does not touch it before the accounts', async () => {
  const { actuator, journal } = actuatorFor({
    localAnswer: (sql) => (sql === dialect.variablesQuery ? [{ ...variablesRow, semiSyncSource: 0 }] : []),
  });
  await actuator.run({ kind: 'setup-primary', semiSyncAcks: 1 });
  assert.equal(journal.filter((line) => /rpl_semi_sync_source_enabled = OFF/.test(line)).length, 0);
});
