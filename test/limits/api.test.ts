/**
 * The API's bearer-token limiter and the request body limits of the API and
 * the task callbacks, through the real stack (app.request; the client
 * address is handed in as @hono/node-server would).
 */
import { describe, expect, it } from 'vitest';
import { makeStack, TOKEN } from '../helpers/services.js';
import { API_BODY_MAX } from '../../src/http/routes/api.js';
import { CALLBACK_BODY_MAX } from '../../src/http/routes/tasks.js';

const from = (address: string) => ({ incoming: { socket: { remoteAddress: address, remotePort: 40000, remoteFamily: 'IPv4' } } });

function chunked(total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (sent >= total) return ctrl.close();
      const n = Math.min(chunk, total - sent);
      sent += n;
      ctrl.enqueue(new Uint8Array(n).fill(0x20));
    },
  });
}

describe('API bearer tokens', () => {
  it('refuses an address with 429 and Retry-After after 10 wrong tokens in a minute, the right token too', async () => {
    const { app } = await makeStack();
    const get = (token: string | null, ip: string) => app.request('/api/v1/profiles', token === null ? {} : { headers: { authorization: `Bearer ${token}` } }, from(ip));
    for (let i = 0; i < 10; i++) expect((await get(`wrong-${i}`, '10.0.0.7')).status).toBe(401);
    const blocked = await get('wrong-again', '10.0.0.7');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(blocked.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(((await blocked.json()) as { error: string }).error).toMatch(/too many wrong admin tokens from this address: try again in \d+ s/);
    // A right guess must not stand out from the refusals.
    expect((await get(TOKEN, '10.0.0.7')).status).toBe(429);
    // Other addresses are not affected.
    expect((await get(TOKEN, '10.0.0.8')).status).toBe(200);
  });

  it('does not count requests without credentials (a browser, a probe) as guesses', async () => {
    const { app } = await makeStack();
    for (let i = 0; i < 30; i++) expect((await app.request('/api/v1/profiles', {}, from('10.0.0.9'))).status).toBe(401);
    expect((await app.request('/api/v1/profiles', { headers: { authorization: `Bearer ${TOKEN}` } }, from('10.0.0.9'))).status).toBe(200);
  });
});

describe('request body limits', () => {
  it('answers 413 with the limit for a JSON body over 1 MiB, declared or chunked', async () => {
    const { app } = await makeStack();
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const big = 'x'.repeat(API_BODY_MAX + 1);
    const declared = await app.request('/api/v1/hosts', { method: 'POST', headers, body: big });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: 'request body too large: this endpoint takes at most 1 MiB' });
    const streamed = await app.request('/api/v1/hosts', { method: 'POST', headers, body: chunked(API_BODY_MAX + 1), duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    // Templates sent as text have the same limit.
    expect((await app.request('/api/v1/templates/ipxe/x.ipxe', { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: big })).status).toBe(413);
    // At the limit it is read (and refused for what it says, not its size).
    expect((await app.request('/api/v1/hosts', { method: 'POST', headers, body: ' '.repeat(API_BODY_MAX - 2) + '{}' })).status).toBe(400);
  });

  it('takes a host-os.conf import up to 16 MiB', async () => {
    const { app } = await makeStack();
    // 2 MB: over the JSON limit, well under the import's; refused for what it says, not for its size.
    const text = '# comment\n'.repeat(200_000);
    const r = await app.request('/api/v1/import', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: text });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { problems: { message: string }[] }).problems[0]!.message).toBe('the file holds no host lines');
    const over = await app.request('/api/v1/import', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: chunked(16 * 1024 * 1024 + 1, 1024 * 1024), duplex: 'half' } as RequestInit);
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: 'request body too large: this endpoint takes at most 16 MiB' });
  });

  it('checks the token before reading any body', async () => {
    const { app } = await makeStack();
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        pulled++;
        ctrl.enqueue(new Uint8Array(1024));
      },
    });
    const r = await app.request('/api/v1/hosts', { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(401);
    expect(pulled).toBeLessThanOrEqual(1); // at most the stream's own first pull
  });

  it('answers 413 for a task callback body over 64 KiB', async () => {
    const { app } = await makeStack();
    const r = await app.request('/tasks/1/progress?token=x', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'm'.repeat(CALLBACK_BODY_MAX + 1) });
    expect(r.status).toBe(413);
    expect(await r.text()).toBe('request body too large: a task callback takes at most 64 KiB\n');
    // A normal progress message still reaches the handler (here: no such task).
    expect((await app.request('/tasks/1/progress?token=x', { method: 'POST', body: 'copying' })).status).toBe(404);
  });
});
