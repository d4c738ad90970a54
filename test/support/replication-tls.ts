import type { Flavor } from '../../agent/mysql/dialect/types.ts';
import type { Row } from './cluster.ts';

/** How a replica's channel to its source is secured, as its server reports it. */
export async function replicationTls(
  flavor: Flavor,
  replica: { adminRow(sql: string): Promise<Row> },
): Promise<{ encrypted: boolean; caFile: string; verified: boolean }> {
  if (flavor === 'mysql') {
    const row = await replica.adminRow(
      'SELECT SSL_ALLOWED AS encrypted, SSL_CA_FILE AS caFile, SSL_VERIFY_SERVER_CERTIFICATE AS verified ' +
        "FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''",
    );
    return { encrypted: row.encrypted === 'YES', caFile: String(row.caFile), verified: row.verified === 'YES' };
  }
  const row = await replica.adminRow('SHOW REPLICA STATUS');
  return { encrypted: row.Master_SSL_Allowed === 'Yes', caFile: String(row.Master_SSL_CA_File), verified: row.Master_SSL_Verify_Server_Cert === 'Yes' };
}
