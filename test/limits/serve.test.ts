/**
 * The limits as `chainboot serve` applies them (the built CLI): its settings
 * reach the listening server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startServe, type Served } from '../helpers/process.js';

let srv: Served;
beforeAll(async () => {
  srv = await startServe(['--http-max-connections-per-client', '2', '--admin-token', 'limits-test-token-0123456789']);
});
afterAll(async () => {
  await srv?.stop();
});

async function openWithAnswer(): Promise<{ s: Socket; first: Promise<string> }> {
  const s = connect(srv.port, '127.0.0.1');
  await once(s, 'connect');
  s.setEncoding('latin1');
  let text = '';
  const first = new Promise<string>((resolve) => {
    s.on('data', (d: string) => {
      text += d;
      if (text.includes('\r\n\r\n')) resolve(text);
    });
    s.on('close', () => resolve(text));
  });
  s.write('GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n');
  return { s, first };
}

describe('serve applies its HTTP limits', () => {
  it('a third connection from one address over --http-max-connections-per-client 2 gets 429', async () => {
    const a = await openWithAnswer();
    const b = await openWithAnswer();
    expect(await a.first).toMatch(/^HTTP\/1\.1 200/);
    expect(await b.first).toMatch(/^HTTP\/1\.1 200/);
    const c = await openWithAnswer();
    expect(await c.first).toMatch(/^HTTP\/1\.1 429/);
    for (const x of [a, b, c]) x.s.destroy();
  });
});
