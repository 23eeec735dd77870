/** @jsxImportSource hono/jsx */
/**
 * Boot activity: the newest boot events, refreshing by themselves, and one
 * host's timeline cut into boot attempts with the step where each stopped.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import type { BootEvent } from '../../db/schema.js';
import { normalizeMac } from '../../boot/mac.js';
import { fmtBytes, macPath, type Ui, type UiContext, type UiEnv } from '../context.js';
import { groupBoots, STAGE_LABELS, stageOf, type Boot, type Outcome } from '../timeline.js';
import { Badge, page, StatusCode, Time } from '../views/components.js';

const KINDS = ['dhcp', 'tftp', 'entry', 'script', 'pxelinux', 'asset', 'loader', 'file', 'task', 'error'];
const LIMIT = 100;
const POLL_MS = 3000;

function bytesOf(detail: unknown): number | undefined {
  const b = (detail as { bytes?: unknown } | null)?.bytes;
  return typeof b === 'number' ? b : undefined;
}

export const EventRows: FC<{ ui: Ui; events: BootEvent[]; now: number; showHost?: boolean }> = ({ ui, events, now, showHost = true }) => (
  <div class="table-wrap">
    <table class="events">
      <thead>
        <tr>
          <th scope="col">When</th>
          {showHost ? <th scope="col">Host</th> : null}
          <th scope="col">Client</th>
          <th scope="col">Step</th>
          <th scope="col">Request</th>
          <th scope="col">Result</th>
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {events.length === 0 ? (
          <tr>
            <td colspan={showHost ? 7 : 6} class="empty">
              No boot events yet.
            </td>
          </tr>
        ) : (
          events.map((e) => {
            const bytes = bytesOf(e.detail);
            return (
              <tr class={e.status >= 400 ? 'row-bad' : undefined}>
                <td>
                  <Time at={e.at} now={now} />
                </td>
                {showHost ? (
                  <td>
                    {e.mac ? (
                      <a class="mono" href={`${ui.base}/hosts/${macPath(e.mac)}/timeline`}>
                        {e.mac}
                      </a>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                ) : null}
                <td class="mono">{e.clientIp ?? ''}</td>
                <td>{STAGE_LABELS[stageOf(e.kind)]}</td>
                <td class="mono small">{e.request}</td>
                <td class="small">
                  {e.result}
                  {bytes !== undefined && bytes > 0 ? <span class="muted"> · {fmtBytes(bytes)}</span> : null}
                </td>
                <td>
                  <StatusCode status={e.status} />
                </td>
              </tr>
            );
          })
        )}
      </tbody>
    </table>
  </div>
);

const OUTCOME_TEXT: Record<Outcome, string> = {
  completed: 'completed',
  failed: 'failed',
  'in-progress': 'in progress',
  stopped: 'stopped',
  admin: 'task changes only',
};
const OUTCOME_BADGE: Record<Outcome, string> = { completed: 'ok', failed: 'failed', 'in-progress': 'running', stopped: 'discovered', admin: 'new' };

const Pipeline: FC<{ boot: Boot }> = ({ boot }) => (
  <ol class="pipeline" aria-label="Boot stages">
    {boot.stages.map((s) => (
      <li class={`stage ${s.state}`}>
        <span class="stage-name">{STAGE_LABELS[s.stage]}</span>
        <span class="stage-state">
          {s.state === 'unseen' ? 'not seen' : s.state === 'stopped' ? 'stopped here' : s.state === 'failed' ? 'failed' : `${s.steps} step${s.steps === 1 ? '' : 's'}`}
        </span>
      </li>
    ))}
  </ol>
);

const BootView: FC<{ boot: Boot; index: number; latest: boolean }> = ({ boot, index, latest }) => {
  const stop = boot.stopAt !== null ? boot.steps[boot.stopAt] : undefined;
  return (
    <section class={`boot card outcome-${boot.outcome}`} aria-labelledby={`boot-${index}`} data-outcome={boot.outcome}>
      <h2 id={`boot-${index}`}>
        {latest ? 'Latest boot' : 'Boot'} from <Time at={boot.start} /> <Badge value={OUTCOME_BADGE[boot.outcome]} label={OUTCOME_TEXT[boot.outcome]} />
      </h2>
      {boot.outcome !== 'admin' ? <Pipeline boot={boot} /> : null}
      {stop ? (
        <p class={`stop-note ${boot.outcome}`}>
          {boot.outcome === 'failed' ? 'Failed at' : boot.outcome === 'in-progress' ? 'Latest step so far:' : 'Stopped after'} <strong>{STAGE_LABELS[stop.stage]}</strong>: {stop.what}
          {stop.result ? ` — ${stop.result}` : ''}
        </p>
      ) : null}
      <div class="table-wrap">
        <table class="timeline">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Stage</th>
              <th scope="col">What</th>
              <th scope="col">Result</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {boot.steps.map((s, i) => {
              const here = i === boot.stopAt;
              const bytes = bytesOf(s.detail);
              return (
                <tr class={[here ? 'stopped-here' : '', s.failed ? 'row-bad' : '', s.admin ? 'admin' : ''].filter(Boolean).join(' ') || undefined} aria-current={here ? 'step' : undefined}>
                  <td>
                    <Time at={s.at} />
                  </td>
                  <td>
                    {STAGE_LABELS[s.stage]}
                    {here ? <strong class="here-mark">{boot.outcome === 'failed' ? ' ◀ failed here' : boot.outcome === 'in-progress' ? ' ◀ latest' : ' ◀ stopped here'}</strong> : null}
                  </td>
                  <td class="mono small">{s.what}</td>
                  <td class="small">
                    {s.result}
                    {bytes !== undefined && bytes > 0 ? <span class="muted"> · {fmtBytes(bytes)}</span> : null}
                  </td>
                  <td>
                    <StatusCode status={s.status} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
};

const TimelineBody: FC<{ boots: Boot[] }> = ({ boots }) =>
  boots.length === 0 ? (
    <p class="muted">This host has not booted yet, and no task changed.</p>
  ) : (
    <>
      {[...boots].reverse().map((b, i) => (
        <BootView boot={b} index={i} latest={i === 0} />
      ))}
    </>
  );

function readKind(c: UiContext): string {
  const k = c.req.query('kind') ?? '';
  return KINDS.includes(k) ? k : '';
}

export function activityRoutes(app: Hono<UiEnv>, ui: Ui): void {
  const events = async (kind: string, mac?: string) => {
    await ui.events?.flush();
    return ui.store.listEvents({ limit: LIMIT, kinds: kind ? [kind] : undefined, mac });
  };
  const macFilter = (c: UiContext) => normalizeMac(c.req.query('mac') ?? '') ?? undefined;
  const rowsHref = (kind: string, mac?: string) => {
    const p = new URLSearchParams();
    if (kind) p.set('kind', kind);
    if (mac) p.set('mac', mac);
    const s = p.toString();
    return `${ui.base}/activity/rows${s ? '?' + s : ''}`;
  };

  app.get('/activity', async (c) => {
    const kind = readKind(c);
    const mac = macFilter(c);
    const list = await events(kind, mac);
    return page(
      c,
      'Boot activity',
      'activity',
      <>
        <form method="get" action={`${ui.base}/activity`} class="toolbar inline-form">
          <label for="kind">Step</label>
          <select id="kind" name="kind">
            <option value="">all</option>
            {KINDS.map((k) => (
              <option value={k} selected={k === kind}>
                {k}
              </option>
            ))}
          </select>
          <label for="mac">MAC</label>
          <input id="mac" name="mac" value={mac ?? ''} autocomplete="off" />
          <button type="submit" class="secondary">
            Filter
          </button>
        </form>
        <div class="live-bar">
          <button type="button" class="secondary small" data-poll-toggle="event-rows" aria-pressed="true">
            Auto-refresh on
          </button>
          <span class="muted small" data-poll-status="event-rows"></span>
        </div>
        <p class="hint">The newest {LIMIT} events, newest first.</p>
        <div id="event-rows" data-poll={rowsHref(kind, mac)} data-interval={String(POLL_MS)}>
          <EventRows ui={ui} events={list} now={ui.now()} />
        </div>
      </>,
    );
  });

  app.get('/activity/rows', async (c) => c.html(<EventRows ui={ui} events={await events(readKind(c), macFilter(c))} now={ui.now()} />));

  const timeline = async (mac: string) => {
    await ui.events?.flush();
    return groupBoots(await ui.admin.hostTimeline(mac, 1000), ui.now());
  };

  app.get('/hosts/:mac/timeline', async (c) => {
    const h = await ui.admin.getHost(c.req.param('mac'));
    const boots = await timeline(h.mac);
    return page(
      c,
      `Timeline of ${h.hostname ?? h.mac}`,
      'activity',
      <>
        <p class="subtitle">
          <a href={`${ui.base}/hosts/${macPath(h.mac)}`}>Host {h.mac}</a> · DHCP → TFTP → HTTP script → assets → host files → task callbacks, oldest step first within each boot.
        </p>
        <div class="live-bar">
          <button type="button" class="secondary small" data-poll-toggle="timeline" aria-pressed="true">
            Auto-refresh on
          </button>
          <span class="muted small" data-poll-status="timeline"></span>
        </div>
        <div id="timeline" data-poll={`${ui.base}/hosts/${macPath(h.mac)}/timeline/fragment`} data-interval={String(POLL_MS)}>
          <TimelineBody boots={boots} />
        </div>
      </>,
    );
  });

  app.get('/hosts/:mac/timeline/fragment', async (c) => {
    const h = await ui.admin.getHost(c.req.param('mac'));
    return c.html(<TimelineBody boots={await timeline(h.mac)} />);
  });
}
