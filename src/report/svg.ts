/**
 * Plain SVG charts for `fedpft report`, written as text: a line chart (accuracy per round, one
 * polyline per configuration) and stacked bars (each client's label counts in a partition).
 */

export interface Series {
  label: string;
  points: Array<[number, number]>;
}

const FONT = 'font-family="sans-serif" font-size="12"';
const TITLE_FONT = 'font-family="sans-serif" font-size="14"';

/** Distinct colours for up to 10 series (Tableau 10), then evenly spaced hues. */
export function color(i: number): string {
  const base = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  return base[i] ?? `hsl(${Math.round((i * 137.508) % 360)}, 60%, 50%)`;
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round-number ticks covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag) as number;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function num(x: number): string {
  return Number(x.toFixed(2)).toString();
}

interface Frame {
  width: number;
  height: number;
  left: number;
  top: number;
  plotW: number;
  plotH: number;
}

function frame(legendRows: number, legendWidth: number): Frame {
  const left = 60;
  const top = 40;
  const plotW = 520;
  const plotH = Math.max(300, legendRows * 18);
  return { width: left + plotW + 20 + legendWidth, height: top + plotH + 50, left, top, plotW, plotH };
}

function axes(f: Frame, title: string, xLabel: string, yLabel: string, xTicks: Array<[number, string]>, yTicks: Array<[number, string]>): string[] {
  const out: string[] = [];
  const bottom = f.top + f.plotH;
  out.push(`<text x="${num(f.left + f.plotW / 2)}" y="20" text-anchor="middle" ${TITLE_FONT}>${escapeXml(title)}</text>`);
  for (const [y, label] of yTicks) {
    out.push(`<line x1="${f.left}" y1="${num(y)}" x2="${f.left + f.plotW}" y2="${num(y)}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${f.left - 6}" y="${num(y + 4)}" text-anchor="end" ${FONT}>${escapeXml(label)}</text>`);
  }
  for (const [x, label] of xTicks) {
    out.push(`<line x1="${num(x)}" y1="${bottom}" x2="${num(x)}" y2="${bottom + 5}" stroke="#000"/>`);
    out.push(`<text x="${num(x)}" y="${bottom + 18}" text-anchor="middle" ${FONT}>${escapeXml(label)}</text>`);
  }
  out.push(`<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${bottom}" stroke="#000"/>`);
  out.push(`<line x1="${f.left}" y1="${bottom}" x2="${f.left + f.plotW}" y2="${bottom}" stroke="#000"/>`);
  out.push(`<text x="${num(f.left + f.plotW / 2)}" y="${bottom + 38}" text-anchor="middle" ${FONT}>${escapeXml(xLabel)}</text>`);
  out.push(`<text x="16" y="${num(f.top + f.plotH / 2)}" text-anchor="middle" ${FONT} transform="rotate(-90 16 ${num(f.top + f.plotH / 2)})">${escapeXml(yLabel)}</text>`);
  return out;
}

function legend(f: Frame, entries: Array<{ label: string; color: string }>, marker: 'line' | 'box'): string[] {
  const x = f.left + f.plotW + 20;
  return entries.flatMap((e, i) => {
    const y = f.top + 10 + i * 18;
    const mark = marker === 'line' ? `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${e.color}" stroke-width="2"/>` : `<rect x="${x + 4}" y="${y - 6}" width="12" height="12" fill="${e.color}"/>`;
    return [`<g class="legend">${mark}<text x="${x + 24}" y="${y + 4}" ${FONT}>${escapeXml(e.label)}</text></g>`];
  });
}

function legendWidth(labels: readonly string[]): number {
  return 40 + 7 * Math.max(0, ...labels.map((l) => l.length));
}

function svg(f: Frame, body: string[]): string {
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${num(f.width)}" height="${num(f.height)}" viewBox="0 0 ${num(f.width)} ${num(f.height)}">`, `<rect width="100%" height="100%" fill="#fff"/>`, ...body, '</svg>', ''].join('\n');
}

/** Accuracy (fractions, drawn as %) per round; one polyline with point markers per series. */
export function lineChart(opts: { title: string; xLabel: string; yLabel: string; series: readonly Series[] }): string {
  const f = frame(opts.series.length, legendWidth(opts.series.map((s) => s.label)));
  const xs = opts.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = opts.series.flatMap((s) => s.points.map(([, y]) => 100 * y));
  const xLo = Math.min(1, ...xs);
  const xHi = Math.max(xLo + 1, ...xs);
  const yLo = ys.length ? Math.max(0, Math.floor(Math.min(...ys) / 10) * 10) : 0;
  const yHi = ys.length ? Math.min(100, Math.max(yLo + 10, Math.ceil(Math.max(...ys) / 10) * 10)) : 100;
  const px = (x: number) => f.left + ((x - xLo) / (xHi - xLo)) * f.plotW;
  const py = (y: number) => f.top + f.plotH - ((100 * y - yLo) / (yHi - yLo)) * f.plotH;
  const xTicks = ticks(xLo, xHi, Math.min(10, xHi - xLo)).filter((t) => Number.isInteger(t)).map((t) => [px(t), String(t)] as [number, string]);
  const yTicks = ticks(yLo, yHi).map((t) => [py(t / 100), String(t)] as [number, string]);
  const body = axes(f, opts.title, opts.xLabel, opts.yLabel, xTicks, yTicks);
  opts.series.forEach((s, i) => {
    const c = color(i);
    const pts = s.points.map(([x, y]) => `${num(px(x))},${num(py(y))}`).join(' ');
    body.push(`<g class="series"><title>${escapeXml(s.label)}</title>`);
    body.push(`<polyline points="${pts}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const [x, y] of s.points) body.push(`<circle cx="${num(px(x))}" cy="${num(py(y))}" r="3" fill="${c}"><title>${escapeXml(`${s.label}: ${opts.xLabel} ${x}, ${(100 * y).toFixed(2)}%`)}</title></circle>`);
    body.push('</g>');
  });
  body.push(...legend(f, opts.series.map((s, i) => ({ label: s.label, color: color(i) })), 'line'));
  return svg(f, body);
}

/** One bar per client, stacked by class: how a partition spreads the labels (what alpha does). */
export function stackedBars(opts: { title: string; xLabel: string; yLabel: string; classNames: readonly string[]; bars: ReadonlyArray<{ label: string; counts: readonly number[] }> }): string {
  const f = frame(opts.classNames.length, legendWidth(opts.classNames));
  const max = Math.max(1, ...opts.bars.map((b) => b.counts.reduce((s, x) => s + x, 0)));
  const yTickValues = ticks(0, max);
  const yHi = Math.max(max, yTickValues[yTickValues.length - 1] ?? max);
  const slot = f.plotW / Math.max(1, opts.bars.length);
  const barW = Math.max(1, slot * 0.8);
  const py = (v: number) => f.top + f.plotH - (v / yHi) * f.plotH;
  const every = Math.ceil(opts.bars.length / 25);
  const xTicks = opts.bars.map((b, i) => [f.left + slot * (i + 0.5), b.label] as [number, string]).filter((_, i) => i % every === 0);
  const body = axes(f, opts.title, opts.xLabel, opts.yLabel, xTicks, yTickValues.map((t) => [py(t), String(t)] as [number, string]));
  opts.bars.forEach((b, i) => {
    const x = f.left + slot * i + (slot - barW) / 2;
    let base = 0;
    body.push(`<g class="bar"><title>${escapeXml(`${b.label}: ${b.counts.reduce((s, v) => s + v, 0)}`)}</title>`);
    b.counts.forEach((count, k) => {
      if (count <= 0) return;
      body.push(`<rect x="${num(x)}" y="${num(py(base + count))}" width="${num(barW)}" height="${num(py(base) - py(base + count))}" fill="${color(k)}"><title>${escapeXml(`${opts.classNames[k] ?? k}: ${count}`)}</title></rect>`);
      base += count;
    });
    body.push('</g>');
  });
  body.push(...legend(f, opts.classNames.map((label, k) => ({ label, color: color(k) })), 'box'));
  return svg(f, body);
}
