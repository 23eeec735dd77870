/**
 * The unauthenticated HTTP endpoints end to end (app.request, real stack,
 * in-memory database): any query on /ipxe, any MAC and file name on
 * /hosts/…, any pxelinux.cfg name and any /assets path answer with a 2xx,
 * 3xx or 4xx — never a 500 — and what iPXE reads back carries no control
 * characters from the query.
 */
import fc from 'fast-check';
import { makeStack } from '../../helpers/services.js';
import { readFacts } from '../../../src/http/routes/boot.js';
import { makeTree } from './safe-path.js';
import { textOf } from '../arb.js';
import type { FuzzCase } from '../case.js';
import type { Context } from 'hono';

const qchar = ['%', '%00', '%0a', '%0d', '%e2%80%a8', '%c2%85', '&', '=', 'mac', 'uuid', 'arch', 'platform', 'serial', 'choice', '08:00:27:4d:4d:aa', '0800.274d.4daa', 'x86_64', 'efi', '${', '}', '"', "'", '\\', '+', '%zz', '#'];
const query = textOf(qchar, 16);
const seg = textOf(['08-00-27-4d-4d-aa', '0800274d4daa', 'ks.cfg', 'user-data', '..', '%2e%2e', '%2f', '.', '01-', 'default', '%00', 'a', '-'], 4);

export const bootHttpCases: FuzzCase[] = [
  {
    name: 'http: boot endpoints and /assets answer any query or path without a 500',
    runs: 300,
    setup: async () => {
      const tree = makeTree();
      const stack = await makeStack({ assetRoot: tree.root, loaderRoot: tree.root, defaultProfile: undefined });
      const { app } = stack;
      return {
        dispose: async () => {
          tree.dispose();
          await stack.close();
        },
        property: fc.asyncProperty(fc.constantFrom('/ipxe?', '/hosts/', '/pxelinux.cfg/', '/assets/', '/loaders/', '/boot.ipxe?'), query, seg, seg, async (path, q, s1, s2) => {
          const url = path.endsWith('?') ? path + q : path + (path === '/hosts/' ? `${s1}/${s2}` : `${s1}${s2 ? '/' + s2 : ''}`);
          let res: Response;
          try {
            res = await app.request(url);
          } catch (e) {
            if (e instanceof TypeError && /Invalid URL/i.test((e as Error).message)) return; // not a request a client could send
            throw e;
          }
          if (res.status >= 500) throw new Error(`${url} → ${res.status}: ${await res.text()}`);
          await res.arrayBuffer();
        }),
      };
    },
  },
  {
    name: 'http: readFacts drops control characters and bounds every value',
    runs: 1000,
    setup: () => ({
      property: fc.property(fc.dictionary(fc.constantFrom('uuid', 'arch', 'platform', 'serial', 'manufacturer', 'product', 'other'), fc.string({ unit: 'binary', maxLength: 300 })), (q) => {
        const facts = readFacts({ req: { query: (k: string) => q[k] } } as unknown as Context) as Record<string, string>;
        for (const [k, v] of Object.entries(facts)) {
          if (k === 'other') throw new Error('unknown key taken');
          if (v.length > 128 || /[\u0000-\u001f\u007f]/.test(v)) throw new Error(`${k}=${JSON.stringify(v)}`);
        }
      }),
    }),
  },
];
