import { type Logger, pino } from 'pino';

export type { Logger };

// Credentials must never reach a log line, whatever object a caller logs.
const redactedPaths = [
  'password',
  '*.password',
  '*.*.password',
  'config.agent.password',
  'config.replication.password',
  'config.app.password',
  'req.headers.authorization',
  'headers.authorization',
];

/** pino JSON on stdout, one event a line. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { ...bindings },
    redact: { paths: redactedPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
