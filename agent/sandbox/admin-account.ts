import { escape as escapeSql } from 'mysql2';
import { rootConnection } from './probes.ts';

export const ADMIN_USER = 'admin';

/**
 * The sandbox's administrator: every privilege on every pod, created on the primary so it
 * replicates. Returns the server's version, as the primary reports it.
 */
export async function ensureAdminAccount(primary: { paths: { socket: string } }, password: string): Promise<string> {
  const connection = await rootConnection(primary);
  try {
    const account = `${escapeSql(ADMIN_USER)}@'%'`;
    await connection.query(`CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${escapeSql(password)}`);
    await connection.query(`GRANT ALL ON *.* TO ${account} WITH GRANT OPTION`);
    const [rows] = await connection.query('SELECT VERSION() AS version');
    return String((rows as Array<{ version: string }>)[0]?.version);
  } finally {
    await connection.end();
  }
}
