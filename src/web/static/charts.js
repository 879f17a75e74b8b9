// A small SVG chart module (line or grouped bars) with no dependency: series share the x axis
// (dates); each series gets a colour, a legend entry and a <title> per point for tooltips.
const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function formatValue(v, bytes) {
  if (!bytes) {
    if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';
    if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (v >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return (i ? v.toFixed(1) : Math.round(v)) + ' ' + units[i];
}

// Rounds the maximum up to a 1/2/5 step so that the grid lines have readable values.
export function niceMax(max) {
  if (max <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (max <= m * p) return m * p;
  return 10 * p;
}

export function renderChart(container, labels, seriesByName, { kind = 'line', bytes = false, unit = 'days' } = {}) {
  container.textContent = '';
  const names = Object.keys(seriesByName);
  if (!labels?.length || names.length === 0) {
    container.textContent = 'No data for this period.';
    return;
  }
  const W = 640, H = 240, L = 56, R = 10, T = 10, B = 40;
  const pw = W - L - R, ph = H - T - B;
  let max = 0;
  for (const n of names) for (const v of seriesByName[n]) max = Math.max(max, v);
  // Packet counts are integers: at least 4 so that the 4 grid steps fall on whole numbers.
  const top = bytes ? niceMax(max) : Math.max(4, niceMax(max));
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg' });
  svg.append(el('title', {}, `${names.length} series over ${labels.length} ${unit}, maximum ${formatValue(max, bytes)}`));
  for (let i = 0; i <= 4; i += 1) {
    const y = T + ph - (ph * i) / 4;
    svg.append(el('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(el('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, formatValue((top * i) / 4, bytes)));
  }
  const step = pw / labels.length;
  const every = Math.ceil(labels.length / 8);
  labels.forEach((label, i) => {
    if (i % every !== 0 && i !== labels.length - 1) return;
    svg.append(el('text', { x: L + step * (i + 0.5), y: H - B + 16, 'text-anchor': 'middle', class: 'axis' }, label.slice(5)));
  });
  const y = (v) => T + ph - (ph * v) / top;
  names.forEach((name, si) => {
    const colour = PALETTE[si % PALETTE.length];
    const values = seriesByName[name];
    if (kind === 'bar') {
      const bw = Math.max(1, (step * 0.8) / names.length);
      values.forEach((v, i) => {
        const x = L + step * i + step * 0.1 + bw * si;
        const rect = el('rect', { x, y: y(v), width: bw, height: Math.max(0, T + ph - y(v)), fill: colour });
        rect.append(el('title', {}, `${name} ${labels[i]}: ${formatValue(v, bytes)}`));
        svg.append(rect);
      });
    } else {
      const points = values.map((v, i) => `${L + step * (i + 0.5)},${y(v)}`).join(' ');
      svg.append(el('polyline', { points, fill: 'none', stroke: colour, 'stroke-width': 2 }));
      values.forEach((v, i) => {
        const c = el('circle', { cx: L + step * (i + 0.5), cy: y(v), r: 3, fill: colour });
        c.append(el('title', {}, `${name} ${labels[i]}: ${formatValue(v, bytes)}`));
        svg.append(c);
      });
    }
  });
  container.append(svg);
  const legend = document.createElement('ul');
  legend.className = 'legend';
  names.forEach((name, si) => {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = PALETTE[si % PALETTE.length];
    li.append(swatch, document.createTextNode(name));
    legend.append(li);
  });
  container.append(legend);
}
