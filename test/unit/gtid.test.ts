import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dialectForFlavor } from '../../agent/mysql/dialect/index.ts';
import { mergeMariadbStates, subtractMariadbGtids, subtractMysqlGtids } from '../../agent/mysql/gtid.ts';

const A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const B = 'a5c2e2a0-71ca-11e1-9e33-c80aa9429562';

const mysqlCases: Array<[string, string, string, string]> = [
  ['empty set is a subset of anything', '', `${A}:1-5`, ''],
  ['equal sets', `${A}:1-5`, `${A}:1-5`, ''],
  ['behind is a subset', `${A}:1-3`, `${A}:1-5`, ''],
  ['ahead on the same server', `${A}:1-7`, `${A}:1-5`, `${A}:6-7`],
  ['a server the other never saw', `${A}:1-5,${B}:1-2`, `${A}:1-5`, `${B}:1-2`],
  ['holes on both sides', `${A}:1-10`, `${A}:1-3:5-8`, `${A}:4:9-10`],
  ['newlines and upper case as MySQL prints them', `${A.toUpperCase()}:1-5,\n${B}:1`, `${A}:1-5`, `${B}:1`],
  ['tagged GTIDs (8.3+) are distinct from untagged', `${A}:1-2:audit:1-3`, `${A}:1-2`, `${A}:audit:1-3`],
];
for (const [name, set, other, expected] of mysqlCases) {
  test(`MySQL GTID difference: ${name}`, () => assert.equal(subtractMysqlGtids(set, other), expected));
}

const mariadbCases: Array<[string, string, string, string]> = [
  ['empty state', '', '0-100-7', ''],
  ['equal states', '0-100-7', '0-100-7', ''],
  ['behind', '0-100-5', '0-100-7', ''],
  ['local write on a replica (its own server id)', '0-100-7,0-101-8', '0-100-7', '0-101-8'],
  ['ahead on the same server', '0-100-9', '0-100-7', '0-100-9'],
  ['another domain', '0-100-7,1-100-2', '0-100-7', '1-100-2'],
];
for (const [name, state, other, expected] of mariadbCases) {
  test(`MariaDB GTID difference: ${name}`, () => assert.equal(subtractMariadbGtids(state, other), expected));
}

test("MariaDB binlog states merged: per domain and server the highest sequence number (a copy's state from the donor's and the backup's position)", () => {
  assert.equal(mergeMariadbStates('0-1-5,0-2-9', '0-2-12'), '0-1-5,0-2-12');
  assert.equal(mergeMariadbStates('0-2-12', '0-1-5,0-2-9,1-3-4'), '0-2-12,0-1-5,1-3-4');
  assert.equal(mergeMariadbStates('', ''), '');
});

test('originatesFrom: which server wrote a GTID-difference member, each flavour naming the server its own way', () => {
  const mysql = dialectForFlavor('mysql');
  assert.equal(mysql.originatesFrom(`${A}:5-7`, A.toUpperCase()), true);
  assert.equal(mysql.originatesFrom(`${B}:1`, A), false);
  const mariadb = dialectForFlavor('mariadb');
  const identity = mariadb.parseVariables({ serverId: 101, readOnly: 1, gtidExecuted: '', semiSyncSource: 0 }).serverUuid;
  assert.equal(mariadb.originatesFrom('0-101-7798', identity), true);
  assert.equal(mariadb.originatesFrom('0-100-7798', identity), false);
  assert.equal(mariadb.originatesFrom('0-1011-7798', identity), false);
});
