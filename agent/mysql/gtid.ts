// GTID-set arithmetic used to find errant transactions: whatever a node executed that
// its primary never did. Two formats: MySQL sets (`uuid[:tag]:1-5:7`) and MariaDB
// binlog states (`domain-server-seq`, the last sequence number per domain and server).

type Interval = [number, number];

function parseMysqlSet(text: string): Map<string, Interval[]> {
  const set = new Map<string, Interval[]>();
  for (const member of text.replace(/\s+/g, '').split(',')) {
    if (member === '') continue;
    const [uuid, ...parts] = member.split(':');
    let key = uuid!.toLowerCase();
    for (const part of parts) {
      const range = /^(\d+)(?:-(\d+))?$/.exec(part);
      if (!range) {
        key = `${uuid!.toLowerCase()}:${part}`; // a tag applies to the intervals after it
        continue;
      }
      const start = Number(range[1]);
      const intervals = set.get(key) ?? [];
      intervals.push([start, range[2] === undefined ? start : Number(range[2])]);
      set.set(key, intervals);
    }
  }
  return set;
}

function subtractIntervals(from: Interval[], remove: Interval[]): Interval[] {
  let remaining = from.map(([a, b]): Interval => [a, b]);
  for (const [ra, rb] of remove) {
    remaining = remaining.flatMap(([a, b]): Interval[] => {
      if (rb < a || ra > b) return [[a, b]];
      const pieces: Interval[] = [];
      if (a < ra) pieces.push([a, ra - 1]);
      if (b > rb) pieces.push([rb + 1, b]);
      return pieces;
    });
  }
  return remaining;
}

/** MySQL: the GTIDs in `set` that are not in `other`, as a GTID set ('' when `set` ⊆ `other`). */
export function subtractMysqlGtids(set: string, other: string): string {
  const minuend = parseMysqlSet(set);
  const subtrahend = parseMysqlSet(other);
  const members: string[] = [];
  for (const [key, intervals] of minuend) {
    const left = subtractIntervals(intervals, subtrahend.get(key) ?? []);
    if (left.length === 0) continue;
    members.push(`${key}:${left.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':')}`);
  }
  return members.join(',');
}

/** MySQL: how many transactions `sets` hold together (for ranking failover candidates). */
export function countMysqlGtids(...sets: string[]): number {
  const union = new Map<string, Interval[]>();
  for (const set of sets) {
    for (const [key, intervals] of parseMysqlSet(set)) {
      // Count each GTID once: add only what the union does not hold yet.
      const known = union.get(key) ?? [];
      union.set(key, [...known, ...subtractIntervals(intervals, known)]);
    }
  }
  let count = 0;
  for (const intervals of union.values()) for (const [a, b] of intervals) count += b - a + 1;
  return count;
}

function parseMariadbState(text: string): Map<string, number> {
  const state = new Map<string, number>();
  for (const member of text.replace(/\s+/g, '').split(',')) {
    const match = /^(\d+)-(\d+)-(\d+)$/.exec(member);
    if (match) state.set(`${match[1]}-${match[2]}`, Number(match[3]));
  }
  return state;
}

/**
 * MariaDB: how far `states` reach together: per domain the highest sequence number, summed
 * (sequence numbers grow by one per transaction within a domain).
 */
export function countMariadbGtids(...states: string[]): number {
  const highest = new Map<string, number>();
  for (const state of states) {
    for (const [domainServer, seq] of parseMariadbState(state)) {
      const domain = domainServer.split('-')[0]!;
      highest.set(domain, Math.max(highest.get(domain) ?? 0, seq));
    }
  }
  return [...highest.values()].reduce((sum, seq) => sum + seq, 0);
}

/** MariaDB: one binlog state holding, per domain and server, the highest sequence number of any of `states`. */
export function mergeMariadbStates(...states: string[]): string {
  const merged = new Map<string, number>();
  for (const state of states)
    for (const [domainServer, seq] of parseMariadbState(state)) merged.set(domainServer, Math.max(merged.get(domainServer) ?? 0, seq));
  return [...merged].map(([domainServer, seq]) => `${domainServer}-${seq}`).join(',');
}

/**
 * MariaDB: the entries of binlog state `state` that `other` does not cover, i.e. a
 * (domain, server) pair `other` never saw or saw only up to a lower sequence number.
 */
export function subtractMariadbGtids(state: string, other: string): string {
  const covering = parseMariadbState(other);
  const extra: string[] = [];
  for (const [domainServer, seq] of parseMariadbState(state)) {
    const seen = covering.get(domainServer);
    if (seen === undefined || seen < seq) extra.push(`${domainServer}-${seq}`);
  }
  return extra.join(',');
}

/**
 * MySQL: whether a member of a GTID difference (`uuid[:tag]:ranges`) was written by the
 * server with UUID `serverUuid`.
 */
export function mysqlGtidOriginatesFrom(member: string, serverUuid: string): boolean {
  return member.toLowerCase().startsWith(`${serverUuid.toLowerCase()}:`);
}

/** MariaDB: whether a binlog-state entry (`domain-server-seq`) was written by the server with this server_id. */
export function mariadbGtidOriginatesFrom(member: string, serverId: number): boolean {
  return new RegExp(`^\\d+-${serverId}-\\d+$`).test(member);
}
