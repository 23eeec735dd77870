import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stderr; each subsystem gets a child logger with `svc` set. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'chainboot' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
