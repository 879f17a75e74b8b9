// d4-web front end: turns forms marked class="api" into JSON API calls (with the session's CSRF
// token), reveals keys on demand, shows one-time secrets, loads queue previews and draws charts.
// No framework and no inline script (the Content-Security-Policy forbids both).
import { renderChart } from './charts.js';

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
const statusBox = document.getElementById('status');

function say(message, ok) {
  if (!statusBox) return;
  statusBox.textContent = message;
  statusBox.className = 'status ' + (ok ? 'ok' : 'error');
}

export async function api(method, url, body) {
  const init = { method, headers: { Accept: 'application/json', 'X-CSRF-Token': csrf }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) throw new Error((data && data.reason) || `${resp.status} ${resp.statusText}`);
  return data;
}

function formBody(form) {
  const body = {};
  for (const [k, v] of new FormData(form).entries()) {
    if (k === 'csrf_token' || k === '_method' || k === 'next') continue;
    body[k] = typeof v === 'string' ? v : '';
  }
  return body;
}

function showSecret(form, data, field) {
  const value = data[field] ?? data?.key;
  if (!value) return;
  const box = document.getElementById('secret') || document.getElementById('key-value');
  if (!box) return;
  box.hidden = false;
  box.textContent = `${field === 'password' ? 'Password' : field === 'token' ? 'Token' : 'Key'} (shown once, copy it now): ${value}`;
  box.classList.add('revealed');
}

document.addEventListener('submit', async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains('api')) return;
  event.preventDefault();
  const confirmText = form.dataset.confirm;
  if (confirmText && !window.confirm(confirmText)) return;
  let url = form.getAttribute('action');
  const body = formBody(form);
  // Actions whose URL holds a field ("/api/v1/sensors/{uuid}/approve").
  const pathField = form.dataset.pathField;
  if (pathField) {
    url = url.replace(`{${pathField}}`, encodeURIComponent(body[pathField] ?? ''));
    delete body[pathField];
  }
  const method = form.dataset.method || 'POST';
  const button = form.querySelector('button[type="submit"]');
  if (button) button.disabled = true;
  try {
    const data = await api(method, url, method === 'GET' ? undefined : body);
    say(data?.message ?? 'Done.', true);
    if (form.dataset.showSecret) showSecret(form, data, form.dataset.showSecret);
    if (form.dataset.goto) {
      const target = form.dataset.goto.replace(/\{([a-z.]+)\}/g, (_, path) =>
        encodeURIComponent(path.split('.').reduce((o, k) => (o ? o[k] : ''), data) ?? ''));
      window.location.assign(target);
    } else if (form.hasAttribute('data-reload')) {
      const next = form.querySelector('input[name="next"]')?.value || window.location.pathname;
      const sep = next.includes('?') ? '&' : '?';
      window.location.assign(`${next}${sep}flash=${encodeURIComponent(data?.message ?? 'Done.')}`);
    }
  } catch (err) {
    say(err.message, false);
  } finally {
    if (button) button.disabled = false;
  }
});

document.addEventListener('click', async (event) => {
  const button = event.target.closest?.('[data-reveal-key]');
  if (!button) return;
  const out = document.getElementById(button.getAttribute('aria-controls'));
  try {
    const data = await api('GET', button.dataset.revealKey);
    out.textContent = data.key ?? '(default key)';
    out.classList.add('revealed');
    button.hidden = true;
  } catch (err) {
    say(err.message, false);
  }
});

async function loadPreview(el) {
  const pre = el.querySelector('pre');
  try {
    const data = await api('GET', el.dataset.preview);
    pre.textContent = data.newest_first.length
      ? data.newest_first.map((e) => e.value + (e.truncated ? ' [...]' : '')).join('\n')
      : '(empty)';
  } catch (err) {
    pre.textContent = `Cannot load the preview: ${err.message}`;
  }
}

async function loadChart(fig) {
  try {
    const data = await api('GET', fig.dataset.chart);
    renderChart(fig.querySelector('.plot'), data.dates, data[fig.dataset.field] ?? {}, {
      kind: fig.dataset.kind || 'line',
      bytes: fig.dataset.field.startsWith('bytes'),
      unit: fig.dataset.unit || 'days',
    });
  } catch (err) {
    fig.querySelector('.plot').textContent = `Cannot load the chart: ${err.message}`;
  }
}

function refreshCharts() {
  document.querySelectorAll('figure[data-chart]').forEach(loadChart);
}

document.querySelectorAll('[data-preview]').forEach(loadPreview);
refreshCharts();
// The dashboard's charts follow new data without a reload.
if (document.querySelector('#connected-count')) setInterval(refreshCharts, 10000);
