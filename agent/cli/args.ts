import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AgentError, messageOf } from '../errors.ts';

/** node:util parseArgs, with a mistake in the command line reported as a usage error that names the command. */
export function parseCommandLine<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new AgentError('USAGE', `${command}: ${messageOf(error)}`);
  }
}
