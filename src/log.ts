import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines on stderr; each subsystem gets a child logger with `svc` set.
 * To find one machine's lines: `mac` (DHCP), `ip` (HTTP), `client`
 * (TFTP, address:port), and on all three `boot`, the boot correlation id
 * (metrics/boot-id.ts) shared by the steps of one boot of one machine.
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'chainboot' } }, pino.destination(2));
}

export const silentLogger: Logger = pino({ level: 'silent' });
