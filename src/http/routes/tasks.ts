/**
 * Task callbacks: the booted environment reports with a plain HTTP call,
 * GET or POST, the task's token in ?token= (or Authorization: Bearer):
 *
 *   /tasks/<id>/running            the environment is up
 *   /tasks/<id>/progress?message=  progress text (also a POST body)
 *   /tasks/<id>/done
 *   /tasks/<id>/failed?message=
 *
 * curl, busybox wget, curl.exe and PowerShell's Invoke-WebRequest all manage
 * that. A wrong token is refused (403); a finished task's token stops
 * working (409), so a replayed call cannot reopen or redo anything.
 */
import { Hono, type Context } from 'hono';
import type { AsyncTaskStore } from '../../db/backend.js';
import type { EventLog } from '../../boot/events.js';
import { isFinal } from '../../tasks/machine.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { clientIp } from '../client-ip.js';
import { hasControl } from '../../validate.js';
import { bodyLimit } from 'hono/body-limit';

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };
/** A callback body is at most a progress message (8 KiB of it is read): anything much larger is refused unread. */
export const CALLBACK_BODY_MAX = 64 * 1024;
const WHAT = ['running', 'progress', 'done', 'failed'] as const;

async function messageOf(c: Context): Promise<string> {
  let m = c.req.query('message') ?? '';
  if (!m && c.req.method === 'POST') {
    const type = c.req.header('content-type') ?? '';
    const body = (await c.req.text()).slice(0, 8192);
    m = type.startsWith('application/x-www-form-urlencoded') ? (new URLSearchParams(body).get('message') ?? '') : body;
  }
  // One line, bounded: it is shown in listings and timelines.
  return m.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim().slice(0, 1000);
}

export function taskCallbackRoutes(deps: { tasks: AsyncTaskStore; events?: EventLog }): Hono {
  const app = new Hono();
  const limit = bodyLimit({ maxSize: CALLBACK_BODY_MAX, onError: (c) => c.body(`request body too large: a task callback takes at most ${CALLBACK_BODY_MAX / 1024} KiB\n`, 413, TEXT) });
  app.on(['GET', 'POST'], '/tasks/:id/:what', limit, async (c) => {
    const what = c.req.param('what') as (typeof WHAT)[number];
    const idText = c.req.param('id');
    if (!WHAT.includes(what) || !/^\d{1,12}$/.test(idText)) return c.body('not found\n', 404, TEXT);
    const id = Number(idText);
    const auth = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
    const token = c.req.query('token') ?? auth?.[1] ?? '';
    const ip = clientIp(c);
    let status = 200;
    let answer: string;
    let mac: string | null = null;
    try {
      const task = await deps.tasks.get(id);
      mac = (await deps.tasks.view(id)).mac;
      if (!token || hasControl(token) || !(await deps.tasks.checkToken(task, token))) {
        status = 403;
        answer = `task ${id}: wrong token`;
      } else if (isFinal(task)) {
        status = 409;
        answer = `task ${id} is ${task.state}: its token no longer works`;
      } else {
        const message = await messageOf(c);
        const after = await deps.tasks.report(id, what, message);
        answer = `ok: task ${id} is ${after.state}${after.state === 'pending' ? ` (retry, attempt ${after.attempt})` : ''}`;
      }
    } catch (e) {
      if (e instanceof NotFoundError) {
        status = 404;
        answer = `no task ${id}`;
      } else if (e instanceof ConflictError) {
        status = 409;
        answer = e.message;
      } else throw e;
    }
    deps.events?.record({ mac, clientIp: ip ?? null, kind: 'task', request: `/tasks/${id}/${what}`, result: answer, status });
    return c.body(answer + '\n', status as 200, TEXT);
  });
  return app;
}
