/** @jsxImportSource hono/jsx */
/**
 * The dashboard: hosts booted today, tasks by state, failures, and TFTP/HTTP
 * throughput from the bytes recorded in transfer events.
 */
import type { Hono } from 'hono';
import type { FC } from 'hono/jsx';
import { fmtBytes, macPath, startOfToday, type Ui, type UiContext, type UiEnv } from '../context.js';
import { Badge, page, StatusCode, Time } from '../views/components.js';
import { STAGE_LABELS, stageOf } from '../timeline.js';
import type { DashboardFigures, FailedEvent } from '../queries.js';
import type { TaskView } from '../../tasks/store.js';

const POLL_MS = 5000;

function rate(bytes: number, seconds: number): string {
  return `${fmtBytes(Math.round(bytes / Math.max(1, seconds)))}/s`;
}

interface FiguresData {
  now: number;
  since: number;
  d: DashboardFigures;
  failures: FailedEvent[];
  open: { tasks: TaskView[] };
}

/** Everything the figures show, read at once. */
async function figures(ui: Ui): Promise<FiguresData> {
  const now = ui.now();
  const since = startOfToday(now);
  const [d, failures, open] = await Promise.all([ui.q.dashboard(since, now), ui.q.recentFailures(since - 6 * 86_400_000, 8), ui.admin.listTasks({ state: 'pending,served,running', limit: 8 })]);
  return { now, since, d, failures, open };
}

const Figures: FC<{ ui: Ui; data: FiguresData }> = ({ ui, data }) => {
  const { now, since, d, failures, open } = data;
  const secondsToday = Math.max(1, (now - since) / 1000);
  return (
    <>
      <div class="cards">
        <section class="stat" aria-labelledby="s-booted">
          <h2 id="s-booted">Hosts booted today</h2>
          <p class="big" data-stat="booted-today">
            {d.bootedToday}
          </p>
          <p class="muted">
            of {d.hosts} host{d.hosts === 1 ? '' : 's'}
            {d.discovered ? `, ${d.discovered} discovered` : ''}
          </p>
        </section>
        <section class="stat" aria-labelledby="s-tasks">
          <h2 id="s-tasks">Tasks running</h2>
          <p class="big" data-stat="tasks-running">
            {d.tasks.running ?? 0}
          </p>
          <p class="muted">
            {d.tasks.pending ?? 0} pending, {d.tasks.served ?? 0} served
          </p>
        </section>
        <section class={`stat${d.tasksFailedToday + d.errorEventsToday ? ' alarm' : ''}`} aria-labelledby="s-failures">
          <h2 id="s-failures">Failures today</h2>
          <p class="big" data-stat="failures">
            {d.tasksFailedToday + d.errorEventsToday}
          </p>
          <p class="muted">
            {d.tasksFailedToday} task{d.tasksFailedToday === 1 ? '' : 's'} failed or expired, {d.errorEventsToday} boot step{d.errorEventsToday === 1 ? '' : 's'} with an error
          </p>
        </section>
        <section class="stat" aria-labelledby="s-tftp">
          <h2 id="s-tftp">TFTP throughput</h2>
          <p class="big" data-stat="tftp-rate">
            {rate(d.lastHour.tftp.bytes, 3600)}
          </p>
          <p class="muted">
            last hour ({d.lastHour.tftp.transfers} transfers); today {fmtBytes(d.today.tftp.bytes)} in {d.today.tftp.transfers}, {rate(d.today.tftp.bytes, secondsToday)}
          </p>
        </section>
        <section class="stat" aria-labelledby="s-http">
          <h2 id="s-http">HTTP throughput</h2>
          <p class="big" data-stat="http-rate">
            {rate(d.lastHour.http.bytes, 3600)}
          </p>
          <p class="muted">
            last hour ({d.lastHour.http.transfers} asset/loader requests); today {fmtBytes(d.today.http.bytes)} in {d.today.http.transfers}, {rate(d.today.http.bytes, secondsToday)}
          </p>
        </section>
      </div>
      <div class="grid2">
        <section aria-labelledby="open-title" class="card">
          <h2 id="open-title">
            Open tasks <a href={`${ui.base}/tasks`} class="small">all tasks</a>
          </h2>
          {open.tasks.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <ul class="plain">
              {open.tasks.map((t) => (
                <li>
                  <a href={`${ui.base}/tasks/${t.id}`}>task {t.id}</a> <Badge value={t.state} /> <span class="mono">{t.mac}</span> {t.hostname ?? ''} → {t.profile}
                  {t.message ? <span class="muted"> · {t.message}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="fail-title" class="card">
          <h2 id="fail-title">
            Recent failed steps <a href={`${ui.base}/activity`} class="small">boot activity</a>
          </h2>
          {failures.length === 0 ? (
            <p class="muted">None in the last week.</p>
          ) : (
            <ul class="plain">
              {failures.map((e) => (
                <li>
                  <Time at={e.at} now={now} /> <StatusCode status={e.status} /> {STAGE_LABELS[stageOf(e.kind)]}{' '}
                  {e.mac ? (
                    <a class="mono" href={`${ui.base}/hosts/${macPath(e.mac)}/timeline`}>
                      {e.mac}
                    </a>
                  ) : (
                    <span class="mono">{e.clientIp ?? ''}</span>
                  )}{' '}
                  <span class="small">{e.result}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
    </>
  );
};

/** Registers the dashboard; returns its handler, which also answers "<base>/" (a path a sub-app cannot name). */
export function dashboardRoutes(app: Hono<UiEnv>, ui: Ui): (c: UiContext) => Promise<Response> {
  const dashboard = async (c: UiContext) => {
    await ui.events?.flush();
    const data = await figures(ui);
    return page(
      c,
      'Dashboard',
      'dashboard',
      <>
        <div class="live-bar">
          <button type="button" class="secondary small" data-poll-toggle="figures" aria-pressed="true">
            Auto-refresh on
          </button>
          <span class="muted small" data-poll-status="figures"></span>
        </div>
        <div id="figures" data-poll={`${ui.base}/dashboard/fragment`} data-interval={String(POLL_MS)}>
          <Figures ui={ui} data={data} />
        </div>
      </>,
    );
  };
  app.get('/', dashboard);

  app.get('/dashboard/fragment', async (c) => {
    await ui.events?.flush();
    return c.html(<Figures ui={ui} data={await figures(ui)} />);
  });
  return dashboard;
}
