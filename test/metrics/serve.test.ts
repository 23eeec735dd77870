/**
 * /metrics and /readyz as `chainboot serve` wires them (the built CLI), with
 * TFTP on: its counters and readiness reach the HTTP side.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type Served } from '../helpers/process.js';

let srv: Served;
beforeAll(async () => {
  srv = await startServe(['--tftp', 'on', '--tftp-port', '0', '--tftp-bind-address', '127.0.0.1', '--admin-token', 'metrics-test-token-0123456789']);
});
afterAll(async () => {
  await srv?.stop();
});

describe('serve: metrics and readiness', () => {
  it('/readyz is 200 with the database and the TFTP listener ready', async () => {
    const res = await fetch(`${srv.baseUrl}/readyz`);
    const body = (await res.json()) as { ready: boolean; checks: Record<string, unknown> };
    expect(res.status).toBe(200);
    expect(body.ready).toBe(true);
    expect(body.checks.tftp).toBe('ok');
  });

  it('/metrics carries TFTP, HTTP and process series', async () => {
    await fetch(`${srv.baseUrl}/boot.ipxe`);
    const text = await (await fetch(`${srv.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^chainboot_tftp_active_transfers 0$/m);
    expect(text).toMatch(/^chainboot_http_requests_total\{[^}]*route="\/boot\.ipxe"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});
