import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A real pino logger whose JSON lines are kept for assertions instead of printed. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      }
      callback();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), lines };
}

export const pinoLevels = { info: 30, warn: 40, error: 50 } as const;
