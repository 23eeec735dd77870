import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr; each subsystem gets a child logger with `svc` set.
 * Fields shared across subsystems, so one query finds one machine: `mac`,
 * `ip`, and `boot` — the boot correlation id (metrics/boot-id.ts) on the
 * DHCP, TFTP and HTTP lines of one boot of one machine.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'chainboot' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
