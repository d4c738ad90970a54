import { AgentError } from '../../errors.ts';
import { mariadbDialect } from './mariadb.ts';
import { mysqlDialect } from './mysql.ts';
import type { Dialect, Flavor } from './types.ts';

export type { Dialect, Flavor } from './types.ts';

export interface ServerVersion {
  flavor: Flavor;
  /** As the server reports it, e.g. 9.7.4-2 or 10.11.18-MariaDB-0+deb12u1-log. */
  version: string;
  major: number;
  minor: number;
  patch: number;
}

/** The one place that reads a version string. */
export function parseServerVersion(version: string): ServerVersion {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!match) throw new AgentError('UNSUPPORTED_SERVER', `cannot read the server version "${version}"`);
  return {
    flavor: /mariadb/i.test(version) ? 'mariadb' : 'mysql',
    version,
    major: Number(match[1]),
    minor: Number(match[2]),
    patch: Number(match[3]),
  };
}

const atLeast = (v: ServerVersion, major: number, minor: number, patch: number): boolean =>
  v.major !== major ? v.major > major : v.minor !== minor ? v.minor > minor : v.patch >= patch;

/** Chooses the SQL dialect for a running server, or refuses one too old for GTID auto-positioning syntax. */
export function dialectForServer(v: ServerVersion): Dialect {
  if (v.flavor === 'mariadb') {
    if (!atLeast(v, 10, 6, 0)) throw new AgentError('UNSUPPORTED_SERVER', `MariaDB ${v.version} is older than 10.6`);
    return mariadbDialect();
  }
  if (!atLeast(v, 8, 0, 23)) throw new AgentError('UNSUPPORTED_SERVER', `MySQL ${v.version} is older than 8.0.23`);
  return mysqlDialect(atLeast(v, 8, 2, 0));
}

/** The dialect for `stage`, which runs before any server is up and only needs config lines. */
export function dialectForFlavor(flavor: Flavor): Dialect {
  return flavor === 'mariadb' ? mariadbDialect() : mysqlDialect(true);
}
