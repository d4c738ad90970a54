import { join } from 'node:path';
import { loadStageConfig } from '../config.ts';
import { AgentError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { writeFileIfChanged } from '../pod/files.ts';
import { CNF_FILE, INIT_SQL_FILE, renderStagedFiles } from '../pod/stage.ts';
import { parseCommandLine } from './args.ts';

export async function main(args: string[]): Promise<number> {
  const { values } = parseCommandLine('stage', { args, options: { 'conf-dir': { type: 'string' }, 'init-dir': { type: 'string' } } });
  const confDir = values['conf-dir'];
  const initDir = values['init-dir'];
  if (!confDir || !initDir) throw new AgentError('USAGE', 'stage needs --conf-dir DIR and --init-dir DIR');

  const config = loadStageConfig(process.env);
  const log = createLogger(process.env.MYSQL_HA_LOG_LEVEL ?? 'info', { pod: config.pod.name });
  const files = renderStagedFiles(config, initDir);
  const cnfPath = join(confDir, CNF_FILE);
  const initPath = join(initDir, INIT_SQL_FILE);
  const cnfChanged = await writeFileIfChanged(cnfPath, files.cnf, 0o644);
  // Holds the agent's password: readable by mysqld's group only (the pod's fsGroup).
  const initChanged = await writeFileIfChanged(initPath, files.initSql, 0o640);
  log.info({ cnf: cnfPath, initSql: initPath, cnfChanged, initChanged, serverId: config.serverId, flavor: config.flavor }, 'staged mysqld config');
  return 0;
}
