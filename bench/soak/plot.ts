/**
 * A tiny PNG line-chart renderer for bench/soak, with no dependency: an RGB
 * raster, Bresenham lines, a 5×7 bitmap font, and PNG chunks deflated by
 * node:zlib. One chart = panels stacked vertically, sharing the x axis
 * (minutes); each panel has its own y scale with labelled ticks, its series,
 * an optional shaded interval (the half the verdict fits) and fit line.
 *
 * Also runnable on a soak CSV to draw it again:
 *   node --import tsx bench/soak/plot.ts bench/out/soak/<run>/soak.csv out.png [STEP_MINUTES]
 * (which also prints the run condensed to one line per STEP_MINUTES, 3 by default)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

export interface Series {
  name: string;
  color: [number, number, number];
  points: [number, number][];
  dashed?: boolean;
}
export interface Panel {
  title: string;
  series: Series[];
  /** Shaded x interval (e.g. the second half, where flatness is judged). */
  shade?: [number, number];
  /** Lowest y shown is never above this (e.g. 0 for counts). */
  yFloor?: number;
}
export interface Chart {
  title: string;
  xLabel: string;
  panels: Panel[];
  width?: number;
  panelHeight?: number;
}

// 5×7 glyphs, one string of 35 bits per character (rows top to bottom).
const GLYPHS: Record<string, string> = {
  '0': '01110100011001110101110011000101110',
  '1': '00100011000010000100001000010001110',
  '2': '01110100010000100010001000100011111',
  '3': '11111000100010000010000011000101110',
  '4': '00010001100101010010111110001000010',
  '5': '11111100001111000001000011000101110',
  '6': '00110010001000011110100011000101110',
  '7': '11111000010001000100010000100001000',
  '8': '01110100011000101110100011000101110',
  '9': '01110100011000101111000010001001100',
  A: '01110100011000111111100011000110001',
  B: '11110100011000111110100011000111110',
  C: '01110100011000010000100001000101110',
  D: '11100100101000110001100011001011100',
  E: '11111100001000011110100001000011111',
  F: '11111100001000011110100001000010000',
  G: '01110100011000010111100011000101111',
  H: '10001100011000111111100011000110001',
  I: '01110001000010000100001000010001110',
  J: '00111000100001000010000101001001100',
  K: '10001100101010011000101001001010001',
  L: '10000100001000010000100001000011111',
  M: '10001110111010110101100011000110001',
  N: '10001100011100110101100111000110001',
  O: '01110100011000110001100011000101110',
  P: '11110100011000111110100001000010000',
  Q: '01110100011000110001101011001001101',
  R: '11110100011000111110101001001010001',
  S: '01111100001000001110000010000111110',
  T: '11111001000010000100001000010000100',
  U: '10001100011000110001100011000101110',
  V: '10001100011000110001100010101000100',
  W: '10001100011000110101101011010101010',
  X: '10001100010101000100010101000110001',
  Y: '10001100011000101010001000010000100',
  Z: '11111000010001000100010001000011111',
  '.': '00000000000000000000000000110001100',
  ',': '00000000000000000000011000010001000',
  '-': '00000000000000011111000000000000000',
  '+': '00000001000010011111001000010000000',
  ':': '00000011000110000000011000110000000',
  '%': '11000110010001000100010001001100011',
  '/': '00000000010001000100010001000000000',
  '(': '00010001000100001000010000010000010',
  ')': '01000001000001000010000100010001000',
  '=': '00000000001111100000111110000000000',
  '<': '00010001000100010000010000010000010',
  '>': '01000001000001000001000100010001000',
  '_': '00000000000000000000000000000011111',
  ' ': '00000000000000000000000000000000000',
};

class Raster {
  readonly px: Buffer;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.px = Buffer.alloc(w * h * 3, 255);
  }
  set(x: number, y: number, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    const i = (y * this.w + x) * 3;
    this.px[i] = c[0]!;
    this.px[i + 1] = c[1]!;
    this.px[i + 2] = c[2]!;
  }
  rect(x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void {
    for (let y = Math.round(y0); y <= Math.round(y1); y++) for (let x = Math.round(x0); x <= Math.round(x1); x++) this.set(x, y, c);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[], thick = 1, dashed = false): void {
    x0 = Math.round(x0);
    y0 = Math.round(y0);
    x1 = Math.round(x1);
    y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    let n = 0;
    for (;;) {
      if (!dashed || n++ % 10 < 6) for (let t = 0; t < thick; t++) this.set(x0, y0 + t, c);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  text(x: number, y: number, s: string, c: readonly number[], scale = 1): number {
    for (const ch of s.toUpperCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[' ']!;
      for (let r = 0; r < 7; r++) for (let col = 0; col < 5; col++) if (g[r * 5 + col] === '1') this.rect(x + col * scale, y + r * scale, x + col * scale + scale - 1, y + r * scale + scale - 1, c);
      x += 6 * scale;
    }
    return x;
  }
}

const textWidth = (s: string, scale = 1) => s.length * 6 * scale;

/** Round tick steps: 1, 2, 5 × 10^n. */
function ticks(lo: number, hi: number, n: number): number[] {
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}
const fmt = (v: number) => {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(0)}K`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return `${+v.toFixed(1)}`;
  return `${+v.toFixed(2)}`;
};

const INK = [40, 40, 40];
const GRID = [225, 225, 225];
const SHADE = [242, 246, 252];

export function renderChart(chart: Chart): Buffer {
  const W = chart.width ?? 1100;
  const PH = chart.panelHeight ?? 190;
  const top = 40;
  const left = 80;
  const right = 20;
  const gap = 46;
  const H = top + chart.panels.length * (PH + gap) + 30;
  const img = new Raster(W, H);
  img.text(left, 12, chart.title, INK, 2);
  const all = chart.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q[0])));
  const xMin = Math.min(0, ...all);
  const xMax = Math.max(xMin + 1e-9, ...all);
  const pw = W - left - right;
  const X = (x: number) => left + ((x - xMin) / (xMax - xMin)) * pw;
  chart.panels.forEach((p, i) => {
    const y0 = top + i * (PH + gap) + 22;
    const ys = p.series.flatMap((s) => s.points.map((q) => q[1])).filter(Number.isFinite);
    let lo = ys.length ? Math.min(...ys) : 0;
    let hi = ys.length ? Math.max(...ys) : 1;
    // At least 20 % of the level shown, so noise does not fill the panel as if it were a trend.
    const mid = (lo + hi) / 2;
    const span = Math.max(hi - lo, Math.abs(mid) * 0.2, 1e-6);
    lo = mid - span * 0.6;
    hi = mid + span * 0.6;
    if (p.yFloor !== undefined && lo < p.yFloor) {
      hi += p.yFloor - lo;
      lo = p.yFloor;
    }
    if (ys.length && Math.min(...ys) >= 0 && lo < 0) {
      hi -= lo;
      lo = 0;
    }
    const Y = (y: number) => y0 + PH - ((y - lo) / (hi - lo)) * PH;
    if (p.shade) img.rect(X(p.shade[0]), y0, X(p.shade[1]), y0 + PH, SHADE);
    for (const t of ticks(lo, hi, 5)) {
      img.line(left, Y(t), left + pw, Y(t), GRID);
      const s = fmt(t);
      img.text(left - 6 - textWidth(s), Y(t) - 3, s, INK);
    }
    for (const t of ticks(xMin, xMax, 10)) {
      img.line(X(t), y0, X(t), y0 + PH, GRID);
      const s = fmt(t);
      img.text(X(t) - textWidth(s) / 2, y0 + PH + 5, s, INK);
    }
    img.line(left, y0, left, y0 + PH, INK);
    img.line(left, y0 + PH, left + pw, y0 + PH, INK);
    let tx = img.text(left, y0 - 16, p.title, INK, 2) + 18;
    for (const s of p.series) {
      img.rect(tx, y0 - 11, tx + 14, y0 - 9, s.color);
      tx = img.text(tx + 18, y0 - 14, s.name, s.color) + 14;
      for (let k = 1; k < s.points.length; k++) {
        const [ax, ay] = s.points[k - 1]!;
        const [bx, by] = s.points[k]!;
        if (Number.isFinite(ay) && Number.isFinite(by)) img.line(X(ax), Y(ay), X(bx), Y(by), s.color, s.dashed ? 1 : 2, s.dashed);
      }
    }
  });
  const xl = chart.xLabel;
  img.text(left + pw / 2 - textWidth(xl) / 2, H - 16, xl, INK);
  return png(img);
}

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(img: Raster): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.w, 0);
  ihdr.writeUInt32BE(img.h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  const stride = img.w * 3;
  const raw = Buffer.alloc((stride + 1) * img.h);
  for (let y = 0; y < img.h; y++) img.px.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride); // filter 0 per row
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

// ---------------------------------------------------------------- CSV → PNG
export const COLORS = {
  blue: [31, 119, 180] as [number, number, number],
  orange: [230, 120, 20] as [number, number, number],
  green: [44, 160, 44] as [number, number, number],
  red: [214, 39, 40] as [number, number, number],
  purple: [148, 103, 189] as [number, number, number],
  grey: [120, 120, 120] as [number, number, number],
};

/** The soak chart from its CSV rows (column names as run.ts writes them). */
export function soakChart(rows: Record<string, number>[], title: string): Chart {
  const minutes = rows.map((r) => r.minutes!);
  const end = minutes.at(-1) ?? 1;
  const shade: [number, number] = [end / 2, end];
  const col = (name: string) => rows.map((r) => [r.minutes!, r[name]!] as [number, number]).filter((p) => Number.isFinite(p[1]));
  const loop: Series[] = [{ name: 'p99 in-process (probe)', color: COLORS.red, points: col('eld_p99_ms') }];
  const prom = col('metrics_eld_p99_ms');
  if (prom.length) loop.push({ name: '/metrics p99', color: COLORS.purple, points: prom });
  return {
    title,
    xLabel: 'MINUTES (SHADED: SECOND HALF, WHERE FLATNESS IS JUDGED)',
    panels: [
      {
        title: 'RSS MB',
        shade,
        series: [
          { name: 'RSS', color: COLORS.blue, points: col('rss_mb') },
          { name: 'V8 heap used', color: COLORS.green, points: col('heap_mb') },
        ],
      },
      { title: 'OPEN FDS', shade, yFloor: 0, series: [{ name: 'fds', color: COLORS.blue, points: col('fds') }] },
      { title: 'EVENT-LOOP DELAY MS', shade, yFloor: 0, series: loop },
      // Its own panel: from outside it is often ten times the in-process value, which would flatten that line.
      { title: 'GET /HEALTHZ MS', shade, yFloor: 0, series: [{ name: 'p99 from the load namespace', color: COLORS.orange, points: col('healthz_p99_ms') }] },
      {
        title: 'CPU %',
        shade,
        yFloor: 0,
        series: [
          { name: 'server, of one core', color: COLORS.grey, points: col('cpu_pct') },
          { name: 'server main thread waiting for a CPU', color: COLORS.red, points: col('runq_wait_pct') },
          { name: 'whole machine busy, of all cores', color: COLORS.orange, points: rows.map((r) => [r.minutes!, r.machine_busy_pct! / (r.cores ?? 2)] as [number, number]).filter((p) => Number.isFinite(p[1])), dashed: true },
        ],
      },
    ],
  };
}

export function parseCsv(text: string): Record<string, number>[] {
  const [head, ...lines] = text.trim().split('\n');
  const names = head!.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i]!, v === '' ? NaN : Number(v)])));
}

/**
 * The run condensed to one line per `step` minutes: memory and fds as at the
 * window's last sample, CPU its mean, event-loop p99s the median of the
 * window's per-interval p99s (max: the largest), counts summed.
 */
export function condensedTable(rows: Record<string, number>[], step: number): string {
  const loads = ['dhcp', 'tftp', 'render', 'range', 'stream', 'abort', 'api'];
  const f = (x: number | undefined, d = 1) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : '-');
  const med = (xs: number[]) => {
    const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)]! : NaN;
  };
  const out = [
    `${'min'.padStart(5)} ${'RSS MB'.padStart(7)} ${'heap'.padStart(6)} ${'fds'.padStart(4)} ${'cpu%'.padStart(5)} ${'rq%'.padStart(4)} ${'eld p99'.padStart(8)} ${'eld max'.padStart(8)} ${'hz p99'.padStart(7)} | ${loads.map((k) => `${k} ok/err`.padStart(k === 'render' || k === 'dhcp' ? 15 : 12)).join(' ')}`,
  ];
  const end = rows.at(-1)?.minutes ?? 0;
  // Samples land a little after each interval mark: half a sample spacing of slack.
  const tol = rows.length > 2 ? (rows[2]!.minutes! - rows[1]!.minutes!) / 2 : 0;
  for (let t = step; t <= end + tol || t - step < end - tol; t += step) {
    const w = rows.filter((r) => r.minutes! > t - step + tol && r.minutes! <= t + tol);
    if (!w.length) continue;
    const last = w.at(-1)!;
    const sum = (c: string) => w.reduce((a, r) => a + (Number.isFinite(r[c]) ? r[c]! : 0), 0);
    const avg = (c: string) => {
      const v = w.map((r) => r[c]!).filter(Number.isFinite);
      return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
    };
    out.push(
      `${f(last.minutes, 1).padStart(5)} ${f(last.rss_mb).padStart(7)} ${f(last.heap_mb).padStart(6)} ${f(last.fds, 0).padStart(4)} ${f(avg('cpu_pct'), 0).padStart(5)} ${f(avg('runq_wait_pct'), 0).padStart(4)} ${f(med(w.map((r) => r.eld_p99_ms!))).padStart(8)} ${f(Math.max(...w.map((r) => r.eld_max_ms!).filter(Number.isFinite)), 0).padStart(8)} ${f(med(w.map((r) => r.healthz_p99_ms!))).padStart(7)} | ${loads.map((k) => `${sum(`${k}_ok`)}/${sum(`${k}_err`)}`.padStart(k === 'render' || k === 'dhcp' ? 15 : 12)).join(' ')}`,
    );
    if (t > end) break;
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [csv, out] = process.argv.slice(2);
  if (!csv || !out) {
    process.stderr.write('usage: plot.ts SOAK_CSV OUT_PNG\n');
    process.exit(2);
  }
  const rows = parseCsv(readFileSync(csv, 'utf8'));
  const dir = csv.split('/').slice(-2, -1)[0] ?? csv;
  writeFileSync(out, renderChart(soakChart(rows, `chainboot soak ${dir}, ${rows.at(-1)?.minutes?.toFixed(0) ?? '?'} min`)));
  process.stdout.write(condensedTable(rows, Number(process.argv[4] ?? 3)) + '\n');
}
