/**
 * The UI's stylesheet and its one small script, served from memory under
 * /ui/static/ (no CDN, no build step). The script only enhances: every page
 * works without it (forms post, links navigate, the editor is a textarea).
 *
 * Written with String.raw, so neither may contain a backtick or "${".
 */
import { createHash } from 'node:crypto';

const CSS = String.raw`
:root {
  --bg: #f6f7f9; --panel: #fff; --text: #1c2330; --muted: #5b6473; --border: #d5d9e0;
  --accent: #1f5fbf; --accent-dark: #174a96; --ok: #17733a; --ok-bg: #e3f4e8; --bad: #b3261e; --bad-bg: #fbe4e2;
  --warn: #8a5a00; --warn-bg: #fff1cc; --info: #1f5fbf; --info-bg: #e4edfb; --busy: #6b3fa0; --busy-bg: #efe6fa;
  --mono: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", Roboto, sans-serif; color: var(--text); background: var(--bg); }
body { margin: 0; }
a { color: var(--accent); }
a:hover { color: var(--accent-dark); }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: 8px 12px; z-index: 10; }
.skip:focus { left: 8px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 20px; padding: 8px 24px; background: #1c2330; color: #fff; }
.top a { color: #e8edf5; text-decoration: none; }
.brand { font-weight: 700; font-size: 1.15rem; letter-spacing: .02em; }
.top nav ul { display: flex; flex-wrap: wrap; gap: 2px; list-style: none; margin: 0; padding: 0; }
.top nav a { display: block; padding: 8px 12px; border-radius: 4px; }
.top nav a:hover { background: #2d3748; }
.top nav a[aria-current="page"] { background: #3b4a63; color: #fff; font-weight: 600; }
.logout { margin-left: auto; }
button.link { background: none; border: 0; color: #e8edf5; padding: 8px; text-decoration: underline; cursor: pointer; font: inherit; }
main { padding: 16px 24px 48px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h1 { font-size: 1.5rem; margin: 8px 0 16px; }
h2 { font-size: 1.15rem; margin: 0 0 10px; }
.subtitle { margin-top: -8px; color: var(--muted); }
.muted { color: var(--muted); }
.small { font-size: .85rem; }
.mono, code, pre { font-family: var(--mono); }
code { background: #eef0f4; padding: 0 3px; border-radius: 3px; font-size: .92em; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 14px 16px; margin: 0 0 16px; }
.flash { padding: 10px 14px; border-radius: 4px; border: 1px solid; margin: 0 0 12px; white-space: pre-wrap; }
.flash.ok { background: var(--ok-bg); border-color: #9fd3b0; color: #0f4d27; }
.flash.error { background: var(--bad-bg); border-color: #eea39c; color: #7d1a14; }
.notice { background: var(--warn-bg); border: 1px solid #e8cf8a; padding: 8px 12px; border-radius: 4px; }
.toolbar { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: center; justify-content: space-between; margin-bottom: 12px; }
.toolbar-links { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 12px; }
.inline-form, .search { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.inline-form { justify-content: flex-start; }
input, select, textarea, button, .button { font: inherit; }
input[type="text"], input[type="search"], input[type="password"], input[type="url"], input[type="datetime-local"], input:not([type]), select, textarea {
  border: 1px solid #aab2bf; border-radius: 4px; padding: 6px 8px; background: #fff; color: var(--text); max-width: 100%;
}
textarea { width: 100%; font-family: var(--mono); font-size: .9rem; }
button, .button { display: inline-block; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; padding: 6px 14px; cursor: pointer; text-decoration: none; line-height: 1.45; }
button:hover, .button:hover { background: var(--accent-dark); color: #fff; }
button.secondary, .button.secondary { background: #fff; color: var(--accent); }
button.secondary:hover, .button.secondary:hover { background: var(--info-bg); color: var(--accent-dark); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
button.danger:hover { background: var(--bad-bg); }
button.small { padding: 2px 10px; font-size: .85rem; }
form.inline { display: inline; margin: 0; }
.stack > * + * { margin-top: 12px; }
.kind-fields > * + *, fieldset > .field + .field { margin-top: 10px; }
.narrow { max-width: 460px; }
.field label, .field legend { display: block; font-weight: 600; margin-bottom: 3px; }
.field input, .field select { width: 100%; }
.field input[type="checkbox"], .field input[type="radio"], .check-label input { width: auto; }
fieldset { border: 1px solid var(--border); border-radius: 6px; padding: 10px 14px; margin: 0; background: var(--panel); min-width: 0; }
legend { font-weight: 600; padding: 0 4px; }
.hint { color: var(--muted); font-size: .85rem; margin: 3px 0 0; }
.field-error { color: var(--bad); font-weight: 600; margin: 4px 0 0; }
.has-error input, .has-error select, .has-error textarea { border-color: var(--bad); box-shadow: 0 0 0 1px var(--bad); }
.check-label { display: inline-flex; gap: 6px; align-items: center; font-weight: normal !important; margin-right: 14px; }
.checks { display: flex; flex-wrap: wrap; gap: 4px 0; }
.align-end { align-self: end; padding-bottom: 8px; }
.grid2 { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px 20px; }
.grid3 { display: grid; grid-template-columns: 2fr 2fr 1fr; gap: 12px 20px; }
.grid4 { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px 20px; margin-top: 8px; }
.actions { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
.plain { list-style: none; margin: 0; padding: 0; }
.plain li { padding: 3px 0; }
.table-wrap { position: relative; overflow-x: auto; background: var(--panel); border: 1px solid var(--border); border-radius: 6px; margin-bottom: 12px; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding: 8px 10px; font-weight: 600; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #e6e9ee; vertical-align: top; }
thead th { background: #eef1f5; font-weight: 600; white-space: nowrap; }
thead th a { color: var(--text); text-decoration: none; }
thead th a:hover { text-decoration: underline; }
th[aria-sort] { background: #dfe6f1; }
tbody tr:hover { background: #f7f9fc; }
td.num, th.num { text-align: right; }
td.check, th.check { width: 2.5em; }
td.empty { color: var(--muted); text-align: center; padding: 18px; }
td.message { max-width: 28em; }
.row-bad { background: #fff6f5; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: .82rem; font-weight: 600; background: #eceff3; color: #394150; white-space: nowrap; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.info { background: var(--info-bg); color: var(--info); }
.badge.busy { background: var(--busy-bg); color: var(--busy); }
.badge.muted { color: var(--muted); }
.bulk { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: center; margin-bottom: 10px; }
.bulk legend { float: left; margin-right: 6px; padding: 0; }
.pager { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
.pager a.disabled { pointer-events: none; color: #9aa3b0; }
.tabs ul { display: flex; flex-wrap: wrap; gap: 4px; list-style: none; margin: 0; padding: 0; }
.tabs a { display: block; padding: 5px 10px; border: 1px solid var(--border); border-radius: 4px; background: #fff; text-decoration: none; }
.tabs a[aria-current="page"] { background: var(--accent); color: #fff; border-color: var(--accent); }
.tabs .count { display: inline-block; min-width: 1.4em; text-align: center; font-size: .8rem; background: rgba(0,0,0,.08); border-radius: 8px; padding: 0 4px; }
.live-bar { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0 0 12px; }
.facts dt { font-weight: 600; color: var(--muted); }
.facts dd { margin: 0; }
.fact { display: inline-block; margin-right: 12px; }
pre.output { background: #10151f; color: #e6edf3; padding: 12px; border-radius: 6px; overflow: auto; max-height: 36em; font-size: .85rem; line-height: 1.45; margin: 0; white-space: pre; }
.history li { margin: 4px 0; }
.row-actions { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(210px, 1fr)); gap: 12px; margin-bottom: 16px; }
.stat { background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 12px 14px; }
.stat h2 { font-size: .95rem; color: var(--muted); margin: 0; }
.stat .big { font-size: 2rem; font-weight: 700; margin: 4px 0; }
.stat p { margin: 0; }
.stat.alarm { border-color: #eea39c; background: #fffafa; }
.stat.alarm .big { color: var(--bad); }
/* timeline */
.pipeline { display: flex; flex-wrap: wrap; gap: 6px; list-style: none; padding: 0; margin: 0 0 10px; counter-reset: stage; }
.pipeline .stage { flex: 1 1 120px; border: 2px solid var(--border); border-radius: 6px; padding: 6px 10px; background: #fff; position: relative; }
.pipeline .stage-name { display: block; font-weight: 600; }
.pipeline .stage-state { display: block; font-size: .82rem; color: var(--muted); }
.pipeline .stage.ok { border-color: #9fd3b0; background: var(--ok-bg); }
.pipeline .stage.failed { border-color: var(--bad); background: var(--bad-bg); }
.pipeline .stage.failed .stage-state { color: var(--bad); font-weight: 600; }
.pipeline .stage.stopped { border-color: #d49a00; background: var(--warn-bg); box-shadow: 0 0 0 2px #f0c24a; }
.pipeline .stage.stopped .stage-state { color: var(--warn); font-weight: 600; }
.pipeline .stage.unseen { border-style: dashed; opacity: .75; }
.stop-note { margin: 0 0 10px; }
.stop-note.failed { color: var(--bad); }
tr.stopped-here { background: var(--warn-bg); box-shadow: inset 4px 0 0 #d49a00; }
tr.stopped-here.row-bad { background: var(--bad-bg); box-shadow: inset 4px 0 0 var(--bad); }
.here-mark { color: var(--warn); }
.row-bad .here-mark { color: var(--bad); }
tr.admin td { color: var(--muted); font-style: italic; }
/* diff */
table.diff td { padding: 1px 8px; border: 0; }
table.diff td.code-line { white-space: pre; font-size: .85rem; }
table.diff td.num { color: var(--muted); font-size: .8rem; width: 3.5em; user-select: none; }
table.diff tr.add { background: #e6f6ea; }
table.diff tr.del { background: #fdecea; }
table.diff tr.hunk td { background: #eef1f5; color: var(--muted); padding: 3px 8px; }
table.diff td.mark { width: 1.5em; font-weight: 700; }
.add-count { color: var(--ok); font-weight: 700; }
.del-count { color: var(--bad); font-weight: 700; }
/* template editor */
.editor-layout { display: grid; grid-template-columns: minmax(0, 1.15fr) minmax(0, 1fr); gap: 18px; align-items: start; }
.preview-panel { background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 12px 14px; position: sticky; top: 8px; }
.preview-meta { font-size: .88rem; margin: 0 0 8px; }
.render-error { border: 2px solid var(--bad); border-radius: 6px; padding: 8px 10px; background: var(--bad-bg); }
.render-error p { margin: 0 0 6px; color: var(--bad); }
.render-error pre.output { background: #2a1010; }
.editor { display: grid; grid-template-columns: auto minmax(0, 1fr); border: 1px solid #aab2bf; border-radius: 4px; background: #fff; font: 13px/1.5 var(--mono); }
.editor .gutter { margin: 0; padding: 8px 8px 8px 6px; width: 4.2em; contain: size; text-align: right; color: #7a8291; background: #f1f3f6; border-right: 1px solid var(--border); overflow: hidden; font: inherit; user-select: none; white-space: pre; }
.editor .gutter .error-line { background: var(--bad); color: #fff; border-radius: 2px; padding: 0 2px; }
.editor .code { position: relative; min-width: 0; }
.editor textarea { display: block; width: 100%; min-height: 30em; margin: 0; padding: 8px; border: 0; border-radius: 0; font: inherit; line-height: inherit; white-space: pre; overflow: auto; resize: vertical; tab-size: 4; background: transparent; }
.editor .highlight { display: none; }
.editor.enhanced .highlight { display: block; position: absolute; inset: 0; margin: 0; padding: 8px; overflow: hidden; white-space: pre; font: inherit; line-height: inherit; tab-size: 4; pointer-events: none; color: var(--text); }
.editor.enhanced textarea { position: relative; z-index: 1; color: transparent; caret-color: #111; }
.editor.enhanced textarea::selection { background: rgba(31, 95, 191, .28); color: transparent; }
.editor .tok-tag { color: #8a2b9f; }
.editor .tok-out { color: #0f6a5a; background: #e9f7f4; }
.editor .tok-raw { color: #9a4d00; background: #fff2e2; }
.editor .tok-comment { color: #6a7380; font-style: italic; }
.js [data-no-js-only] { display: none; }
/* tablets and narrow windows */
@media (max-width: 1000px) {
  .editor-layout { grid-template-columns: 1fr; }
  .preview-panel { position: static; }
}
@media (max-width: 820px) {
  main { padding: 12px 14px 40px; }
  .top { padding: 6px 12px; }
  .grid2, .grid3 { grid-template-columns: 1fr; }
  .grid4 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .facts { grid-template-columns: 1fr; }
  .facts dt { margin-top: 6px; }
  th, td { padding: 6px 7px; }
}
`;

const JS = String.raw`
(function () {
  'use strict';
  var doc = document;
  doc.documentElement.classList.add('js');
  function csrf() {
    var m = doc.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute('content') || '' : '';
  }

  // Forms that delete or cancel ask first.
  doc.addEventListener('submit', function (e) {
    var f = e.target;
    if (!(f instanceof HTMLFormElement)) return;
    var msg = f.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // Bulk selection on the host table.
  function updateCount(form) {
    var out = form.querySelector('[data-selected-count]');
    if (!out) return;
    out.textContent = form.querySelectorAll('input[name="mac"]:checked').length + ' selected';
  }
  doc.addEventListener('change', function (e) {
    var t = e.target;
    if (!(t instanceof HTMLInputElement) || !t.form) return;
    if (t.hasAttribute('data-select-all')) {
      t.form.querySelectorAll('input[name="mac"]').forEach(function (cb) { cb.checked = t.checked; });
    }
    if (t.hasAttribute('data-select-all') || t.name === 'mac') updateCount(t.form);
  });

  // Regions that refresh themselves from a fragment URL.
  function startPoll(el) {
    var url = el.getAttribute('data-poll');
    var interval = Number(el.getAttribute('data-interval')) || 3000;
    var toggle = doc.querySelector('[data-poll-toggle="' + el.id + '"]');
    var status = doc.querySelector('[data-poll-status="' + el.id + '"]');
    var on = true, busy = false, timer = 0;
    function say(text) { if (status) status.textContent = text; }
    function schedule() { clearTimeout(timer); if (on) timer = setTimeout(tick, interval); }
    function tick() {
      if (!on) return;
      // Not while hidden, and not under the keyboard focus of someone working in it.
      if (busy || doc.hidden || (el.contains(doc.activeElement) && doc.activeElement !== el)) { schedule(); return; }
      busy = true;
      fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Requested-With': 'fetch' } })
        .then(function (r) {
          if (r.status === 401) { setOn(false); say('Signed out: reload the page to sign in again.'); return null; }
          if (!r.ok) { say('Refresh failed (HTTP ' + r.status + '); trying again.'); return null; }
          return r.text();
        })
        .then(function (text) {
          if (typeof text !== 'string') return;
          el.innerHTML = text;
          el.setAttribute('data-refreshed', String(Date.now()));
          say('Updated ' + new Date().toLocaleTimeString());
        })
        .catch(function () { say('Refresh failed; trying again.'); })
        .then(function () { busy = false; schedule(); });
    }
    function setOn(value) {
      on = value;
      if (toggle) {
        toggle.setAttribute('aria-pressed', value ? 'true' : 'false');
        toggle.textContent = value ? 'Auto-refresh on' : 'Auto-refresh off';
      }
      if (value) schedule(); else clearTimeout(timer);
    }
    if (toggle) toggle.addEventListener('click', function () { setOn(!on); });
    schedule();
  }
  doc.querySelectorAll('[data-poll]').forEach(startPoll);

  // Profile form: only the fields of the chosen kind (the others are disabled, so not sent).
  var kindSelect = doc.querySelector('select[name="kind"]');
  var kindSets = doc.querySelectorAll('[data-kind-fields]');
  if (kindSelect && kindSets.length) {
    var showKind = function () {
      kindSets.forEach(function (fs) {
        var match = (fs.getAttribute('data-kind-fields') || '').split(' ').indexOf(kindSelect.value) >= 0;
        fs.hidden = !match;
        fs.disabled = !match;
      });
    };
    kindSelect.addEventListener('change', showKind);
    showKind();
  }

  // Template editor: line numbers, tag highlighting, live preview.
  doc.querySelectorAll('[data-editor]').forEach(function (ed) {
    var ta = ed.querySelector('textarea');
    var gutter = ed.querySelector('.gutter');
    var hl = ed.querySelector('.highlight');
    if (!ta || !gutter || !hl) return;
    var lang = ed.getAttribute('data-lang') || '';
    var commentRe = lang === 'batch' ? /^\s*(rem\b|::)/i : lang === 'xml' ? /^\s*<!--/ : /^\s*#/;
    ed.classList.add('enhanced');
    var errorLine = 0, shownLines = -1, shownError = -1, frame = 0;

    function renderGutter() {
      var n = ta.value.split('\n').length;
      if (n === shownLines && errorLine === shownError) return;
      shownLines = n; shownError = errorLine;
      var frag = doc.createDocumentFragment();
      for (var i = 1; i <= n; i++) {
        var s = doc.createElement('span');
        s.textContent = String(i);
        if (i === errorLine) { s.className = 'error-line'; s.title = 'render error on this line'; }
        frag.appendChild(s);
        frag.appendChild(doc.createTextNode('\n'));
      }
      gutter.textContent = '';
      gutter.appendChild(frag);
      gutter.scrollTop = ta.scrollTop;
    }

    function span(cls, text) {
      var s = doc.createElement('span');
      s.className = cls;
      s.textContent = text;
      return s;
    }
    function addText(frag, text, atLineStart) {
      var parts = text.split('\n');
      for (var i = 0; i < parts.length; i++) {
        if (i > 0) frag.appendChild(doc.createTextNode('\n'));
        var p = parts[i];
        if (!p) continue;
        if ((i > 0 || atLineStart) && commentRe.test(p)) frag.appendChild(span('tok-comment', p));
        else frag.appendChild(doc.createTextNode(p));
      }
    }
    function renderHighlight() {
      var text = ta.value, frag = doc.createDocumentFragment(), pos = 0;
      while (pos < text.length) {
        var open = text.indexOf('<%', pos);
        if (open < 0) { addText(frag, text.slice(pos), pos === 0 || text.charAt(pos - 1) === '\n'); break; }
        if (open > pos) addText(frag, text.slice(pos, open), pos === 0 || text.charAt(pos - 1) === '\n');
        var close = text.indexOf('%>', open + 2);
        var end = close < 0 ? text.length : close + 2;
        var kind = text.charAt(open + 2);
        frag.appendChild(span(kind === '=' ? 'tok-tag tok-out' : kind === '~' ? 'tok-tag tok-raw' : 'tok-tag', text.slice(open, end)));
        pos = end;
      }
      frag.appendChild(doc.createTextNode('\n'));
      hl.textContent = '';
      hl.appendChild(frag);
      hl.scrollTop = ta.scrollTop;
      hl.scrollLeft = ta.scrollLeft;
    }
    function redraw() {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(function () { renderGutter(); renderHighlight(); });
    }
    ta.addEventListener('scroll', function () {
      hl.scrollTop = ta.scrollTop;
      hl.scrollLeft = ta.scrollLeft;
      gutter.scrollTop = ta.scrollTop;
    });

    var form = ta.form;
    var url = form ? form.getAttribute('data-preview-url') : null;
    var out = doc.getElementById('preview');
    var status = doc.getElementById('preview-status');
    var seq = 0, timer = 0;
    function readResult() {
      var res = out ? out.querySelector('.preview-result') : null;
      errorLine = res ? Number(res.getAttribute('data-error-line') || 0) : 0;
      return res ? res.getAttribute('data-preview-state') : '';
    }
    function refresh() {
      if (!url || !out || !form) return;
      var mine = ++seq;
      var body = new URLSearchParams();
      new FormData(form).forEach(function (v, k) { if (typeof v === 'string') body.append(k, v); });
      out.setAttribute('aria-busy', 'true');
      fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf(), 'X-Requested-With': 'fetch' } })
        .then(function (r) {
          if (r.status === 401) throw new Error('signed out: reload the page to sign in again');
          if (!r.ok) return r.text().then(function (t) { throw new Error(t || 'HTTP ' + r.status); });
          return r.text();
        })
        .then(function (text) {
          if (mine !== seq) return;
          out.innerHTML = text;
          var state = readResult();
          renderGutter();
          if (status) status.textContent = state === 'error' ? (errorLine ? 'Render error on line ' + errorLine : 'Render error') : state === 'ok' ? 'Preview updated' : '';
        })
        .catch(function (err) { if (mine === seq && status) status.textContent = 'Preview failed: ' + err.message; })
        .then(function () { if (mine === seq) out.removeAttribute('aria-busy'); });
    }
    function later() { clearTimeout(timer); timer = setTimeout(refresh, 250); }
    ta.addEventListener('input', function () { redraw(); later(); });
    doc.querySelectorAll('[data-preview-input]').forEach(function (input) {
      input.addEventListener('input', later);
      input.addEventListener('change', later);
    });
    readResult();
    renderGutter();
    renderHighlight();
  });
})();
`;

// A boot-arrow mark; also saves every page a /favicon.ico 404.
const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1c2330"/><path d="M4 4l5 4-5 4zM9 4h3v8H9z" fill="#e8edf5"/></svg>';

function entry(body: string, type: string) {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
}

export const STATIC_FILES: Record<string, { body: string; type: string; etag: string }> = {
  'app.css': entry(CSS, 'text/css; charset=utf-8'),
  'app.js': entry(JS, 'text/javascript; charset=utf-8'),
  'icon.svg': entry(ICON, 'image/svg+xml'),
};
