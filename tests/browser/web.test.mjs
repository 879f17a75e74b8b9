// End-to-end tests of the web interface in Debian's headless Chromium (playwright-core).
// The stack comes from `d4-stack --data-dir <tmp>` (Redis, d4-server, d4-worker, d4-web from one
// generated configuration); without d4-stack, redis-server and d4-web are started directly and the
// test that needs the ingest server and client is skipped with the reason.
// Screenshots are written to $D4_ARTIFACTS (default: <tmp>/d4-browser-artifacts);
// scripts/doc-screenshots.sh copies some of them, compressed, into docs/images/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const binDir = process.env.D4_BIN_DIR ?? path.resolve('build/bin');
const chromiumPath = process.env.D4_CHROMIUM ?? '/usr/bin/chromium';
const artifacts = process.env.D4_ARTIFACTS ?? path.join(os.tmpdir(), 'd4-browser-artifacts');
const vectors = process.env.D4_VECTORS ?? path.resolve('tests/data/vectors');
const exe = (name) => path.join(binDir, name);
const has = (name) => fs.existsSync(exe(name));

const children = [];
let dataDir;
let webUrl;
let sensorPort;
let defaultKey;
let adminEmail;
let adminPassword;
let context;
let page;
let apiToken;
const mispOrg = '5f6e8a43-4d2c-4b71-9a55-0c1d2e3f4a5b';
const approvedSensor = 'aaaaaaaabbbb4ccc8dddeeeeeeeeeeee';  // approved in the server page test

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs = 30000, stepMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (err.fatal) throw err;
      last = err;
    }
    await sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

// Loopback ports reserved for this test from the pool every test on the machine draws from
// (d4_test_ports holds them until its standard input closes, i.e. until this process exits), so a
// port cannot be taken between choosing it and binding it.
let portReserver;
function reservePorts(n) {
  return new Promise((resolve, reject) => {
    portReserver = spawn(exe('d4_test_ports'), [String(n)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    portReserver.stdout.on('data', (d) => {
      out += d;
      const ports = out.split('\n').filter((l) => l.trim() !== '').map(Number);
      if (ports.length === n) resolve(ports);
    });
    portReserver.once('error', reject);
    portReserver.once('exit', (code) => reject(new Error(`d4_test_ports exited with ${code}`)));
  });
}

// Every port of the generated configuration moves to a reserved one (the sensor listener to
// loopback: tests never listen on other addresses).
async function movePorts(cfgPath) {
  const text = fs.readFileSync(cfgPath, 'utf8');
  const re = /(127\.0\.0\.1|\[::\]|0\.0\.0\.0):(\d{4,5})/g;
  const distinct = [...new Set([...text.matchAll(re)].map((m) => m[2]))];
  const ports = await reservePorts(distinct.length);
  const moved = new Map(distinct.map((p, i) => [p, String(ports[i])]));
  fs.writeFileSync(cfgPath, text.replace(re, (_, _host, port) => `127.0.0.1:${moved.get(port)}`));
}

function start(name, args, logName) {
  const log = fs.openSync(path.join(dataDir, logName ?? `${path.basename(name)}.out`), 'a');
  const child = spawn(name, args, { stdio: ['ignore', log, log], cwd: dataDir });
  children.push(child);
  return child;
}

async function stopAll() {
  for (const child of children.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    const t = setTimeout(() => child.kill('SIGKILL'), 20000);
    await exited;
    clearTimeout(t);
  }
}

async function shot(name) {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

function fatal(message) {
  const err = new Error(message);
  err.fatal = true;
  return err;
}

async function startWithStack() {
  // First run only writes the configuration; its ports are then moved (see movePorts) before the
  // stack starts.
  const init = spawn(exe('d4-stack'), ['--data-dir', dataDir, '--init-only'], { stdio: 'ignore' });
  const code = await new Promise((r) => init.once('exit', r));
  assert.equal(code, 0, 'd4-stack --init-only');
  await movePorts(path.join(dataDir, 'd4.toml'));
  // The MISP feed's publishing organisation, which d4-web also takes as its default organisation.
  fs.appendFileSync(path.join(dataDir, 'd4.toml'),
    `\n[sharing.misp]\norg_name = "Example CSIRT"\norg_uuid = "${mispOrg}"\n`);
  const stack = start(exe('d4-stack'), ['--data-dir', dataDir], 'd4-stack.out');
  const out = path.join(dataDir, 'd4-stack.out');
  const summary = await until('the d4-stack summary', () => {
    if (stack.exitCode !== null) throw fatal(`d4-stack exited: ${fs.readFileSync(out, 'utf8')}`);
    const text = fs.readFileSync(out, 'utf8');
    return text.includes('Press Ctrl-C to stop.') ? text : null;
  }, 90000);
  webUrl = summary.match(/web interface\s+(https?:\/\/\S+)/)?.[1]?.replace(/\/$/, '');
  sensorPort = Number(summary.match(/sensors connect to\s+tls:\/\/.*?:(\d+)/)?.[1]);
  defaultKey = summary.match(/default HMAC key\s+(\S+)/)?.[1];
  assert.ok(webUrl, `no web URL in the summary:\n${summary}`);
}

async function startWebOnly() {
  const [redisPort, webPort] = await reservePorts(2);
  start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--dir', dataDir], 'redis.out');
  fs.writeFileSync(path.join(dataDir, 'd4.toml'), [
    '[redis]', `stream = "127.0.0.1:${redisPort}/0"`, `meta = "127.0.0.1:${redisPort}/4"`, '',
    '[web]', `listen = "127.0.0.1:${webPort}"`, 'tls_cert = ""', 'tls_key = ""', ''].join('\n'));
  await sleep(300);
  start(exe('d4-web'), ['--config', path.join(dataDir, 'd4.toml')], 'd4-web.out');
  webUrl = `http://127.0.0.1:${webPort}`;
}

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'd4-browser-'));
  if (has('d4-stack') && has('d4-server')) await startWithStack();
  else await startWebOnly();
  const pwFile = path.join(dataDir, 'web', 'ADMIN_PASSWORD');
  const line = await until('the first-run admin password file', () =>
    fs.existsSync(pwFile) ? fs.readFileSync(pwFile, 'utf8').trim() : null, 60000);
  [adminEmail, adminPassword] = line.split(' ');
  context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'd4-chromium-')), {
    executablePath: chromiumPath,
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 850 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => d.accept());
  await until('d4-web', async () => (await context.request.get(`${webUrl}/login`)).ok(), 60000);
});

after(async () => {
  if (context) await context.close();
  await stopAll();
  portReserver?.stdin.end();
});

test('first login forces a password change, then shows the dashboard', async () => {
  await page.goto(`${webUrl}/sensors`);
  assert.match(page.url(), /\/login\?next=%2Fsensors/);
  await page.getByLabel('E-mail').fill(adminEmail);
  await page.getByLabel('Password').fill(adminPassword);
  await shot('01-login');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/change_password/);
  await page.getByLabel('Current password').fill(adminPassword);
  await page.getByLabel('New password', { exact: true }).fill('Browser-Pass-2024');
  await page.getByLabel('New password again').fill('Browser-Pass-2024');
  await shot('02-change-password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL((u) => new URL(u).pathname === '/');
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  assert.ok(!fs.existsSync(path.join(dataDir, 'web', 'ADMIN_PASSWORD')), 'the password file is deleted');
  await shot('03-dashboard');
});

test('an API token created in the profile page works', async () => {
  await page.goto(`${webUrl}/profile`);
  await page.getByLabel('Token name').fill('browser-test');
  await page.getByRole('button', { name: 'Create a token' }).click();
  const secret = page.locator('#secret');
  await secret.waitFor({ state: 'visible' });
  apiToken = (await secret.textContent()).split(': ').pop().trim();
  assert.equal(apiToken.length, 41);
  const me = await context.request.get(`${webUrl}/api/v1/me`, { headers: { Authorization: `Bearer ${apiToken}` } });
  assert.equal(me.status(), 200);
  assert.equal((await me.json()).email, adminEmail);
  await shot('04-profile-token');
});

test('a pending sensor registration is approved from the server page', async () => {
  const uuid = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
  const reg = await context.request.post(`${webUrl}/api/v1/add/sensor/register`, {
    headers: { Authorization: apiToken }, data: { uuid, hmac_key: 'browser <key> & "quotes"' } });
  assert.equal(reg.status(), 200, await reg.text());
  await page.goto(`${webUrl}/server`);
  const row = page.locator('tr', { has: page.locator(`a[href="/sensors/${uuid.replaceAll('-', '')}"]`) });
  await row.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(/flash=/);
  await page.locator('#status.ok').waitFor();
  await page.goto(`${webUrl}/sensors/${uuid.replaceAll('-', '')}`);
  await page.locator('.badge', { hasText: 'registered' }).first().waitFor();
  await page.getByRole('button', { name: 'Reveal key' }).click();
  await page.locator('#key-value.revealed').waitFor();
  assert.equal(await page.locator('#key-value').textContent(), 'browser <key> & "quotes"', 'the key is shown verbatim');
  await shot('05-sensor-approved');
});

test('a CIDR network is blocked from the server page', async () => {
  await page.goto(`${webUrl}/server`);
  await page.getByLabel('Block an IP or CIDR network').fill('198.51.100.77/24');
  await page.getByRole('button', { name: 'Block', exact: true }).first().click();
  await page.waitForURL(/flash=/);
  await page.locator('#blocked-ips', { hasText: '198.51.100.0/24' }).waitFor();
  await shot('06-cidr-blocked');
  // A malformed network is refused with a clear message and nothing stored.
  await page.getByLabel('Block an IP or CIDR network').fill('198.51.100.0/99');
  await page.getByRole('button', { name: 'Block', exact: true }).first().click();
  await page.locator('#status.error').waitFor();
  assert.ok((await page.locator('#status').textContent()).length > 5);
});

test('an analyzer queue is created', async () => {
  const types = await context.request.post(`${webUrl}/api/v1/server/types`, {
    headers: { Authorization: `Bearer ${apiToken}` }, data: { type: 8 } });
  assert.equal(types.status(), 200, await types.text());
  await page.goto(`${webUrl}/queues/new`);
  await page.getByLabel('Type', { exact: true }).selectOption('8');
  await page.getByLabel('Description').fill('passive DNS from the browser test');
  await page.getByLabel(/Max size/).fill('1000');
  await page.getByRole('button', { name: 'Create queue' }).click();
  await page.waitForURL(/\/queues\/[0-9a-f-]{36}$/);
  assert.equal(await page.getByLabel('Description').inputValue(), 'passive DNS from the browser test');
  await page.locator('pre.preview', { hasText: '(empty)' }).waitFor();
  await shot('07-queue-created');
  await page.goto(`${webUrl}/queues`);
  await page.locator('td', { hasText: 'passive DNS from the browser test' }).waitFor();
});

test('an alert rule is added and edited from the alerts page', async () => {
  await page.goto(`${webUrl}/alerts/rules/new`);
  await page.getByLabel(/^Name/).fill('queues not consumed');
  await page.getByLabel('Kind', { exact: true }).selectOption('queue_stalled');
  await page.getByLabel(/^Scope/).fill('global');
  await page.getByLabel(/seconds without activity/).fill('600');
  await page.getByRole('button', { name: 'Add the rule' }).click();
  await page.waitForURL(/\/alerts\/rules\/[0-9a-f]{16}$/);
  assert.equal(await page.getByLabel(/seconds without activity/).inputValue(), '600');
  await page.getByLabel(/seconds without activity/).fill('900');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/flash=/);
  assert.equal(await page.getByLabel(/seconds without activity/).inputValue(), '900');
  await shot('08-alert-rule');
  await page.goto(`${webUrl}/alerts`);
  await page.locator('td', { hasText: 'queues not consumed' }).waitFor();
  await shot('09-alerts');
});

test('organisations, a queue granted between them and an organisation\'s alert channel', async () => {
  await page.goto(`${webUrl}/organisations`);
  for (const name of ['CSIRT North', 'CSIRT South']) {
    await page.locator('#org-name').fill(name);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.locator(`input[value="${name}"]`).waitFor();
  }
  await page.locator('#assign-org-sensors').selectOption({ label: 'CSIRT North' });
  await page.locator('#assign-uuid').fill(approvedSensor);
  await page.getByRole('button', { name: 'Assign' }).first().click();
  const north = page.locator('tr', { has: page.locator('input[value="CSIRT North"]') });
  await north.locator(`a[href="/sensors/${approvedSensor}"]`).waitFor();
  await shot('12-organisations');

  // CSIRT North grants CSIRT South a passive DNS queue on its sensor.
  await page.goto(`${webUrl}/grants`);
  await page.locator('#grant-from').selectOption({ label: 'CSIRT North' });
  await page.locator('#grant-to').selectOption({ label: 'CSIRT South' });
  await page.locator('#grant-type').fill('8');
  await page.locator('#grant-sensors').fill(approvedSensor);
  await page.locator('#grant-desc').fill('passive DNS of the north sensor for CSIRT South');
  await page.getByRole('button', { name: 'Grant', exact: true }).click();
  await page.locator('td', { hasText: 'passive DNS of the north sensor for CSIRT South' }).waitFor();
  await page.locator('td', { hasText: /^granted$/ }).first().waitFor();  // the audit trail
  const grants = await (await context.request.get(`${webUrl}/api/v1/grants`,
    { headers: { Authorization: `Bearer ${apiToken}` } })).json();
  assert.equal(grants.items.length, 1);
  assert.equal(grants.items[0].list_key, `analyzer:8:${grants.items[0].id}`);
  await shot('13-queue-grant');

  // CSIRT North's own alert channel: its organisation rules notify there, not the server's channels.
  const orgs = await (await context.request.get(`${webUrl}/api/v1/organisations`,
    { headers: { Authorization: `Bearer ${apiToken}` } })).json();
  const northUuid = orgs.items.find((o) => o.name === 'CSIRT North').uuid;
  await page.goto(`${webUrl}/alerts/channels?org=${northUuid}`);
  await page.locator('#ch-name').fill('north-soc');
  await page.locator('#ch-url').fill('https://chat.north.example/hooks/d4');
  await page.locator('#ch-headers').fill('Authorization: Bearer north-secret');
  await page.getByRole('button', { name: 'Save the channel' }).click();
  await page.locator('td', { hasText: 'webhook to https://chat.north.example' }).waitFor();
  await shot('14-alert-channels');
});

test('a connected sensor\'s statistics appear after the client sends the vectors', async (t) => {
  if (!has('d4-stack') || !has('d4-server') || !has('d4-client') || !sensorPort || !defaultKey) {
    const why = `needs d4-stack, d4-server and d4-client in ${binDir} (build those targets)`;
    // CTest sets D4_REQUIRE_STACK when the build defines them: then a missing binary is a failure.
    if (process.env.D4_REQUIRE_STACK === '1') assert.fail(why);
    t.skip(why);
    return;
  }
  const uuid = '5a0b6f5e-3c1d-4e2f-9a8b-7c6d5e4f3a2b';
  const dashless = uuid.replaceAll('-', '');
  const keyFile = path.join(dataDir, 'sensor.key');
  fs.writeFileSync(keyFile, defaultKey);
  // Shared-secret mode (the stack's default): the default key authenticates any v4 UUID.
  const client = start(exe('d4-client'), ['--uuid', uuid, '--key-file', keyFile, '--type', '8', '--source', 'file',
    '--file', path.join(vectors, 'dns.passivedns.csv'), '--destination', `127.0.0.1:${sensorPort}`, '--ca-file', path.join(dataDir, 'tls', 'server.crt'), '--eof', 'poll'],
  'd4-client.out');
  try {
    await until('the sensor to show statistics', async () => {
      const r = await context.request.get(`${webUrl}/api/v1/sensors/${dashless}/stats?days=1`,
        { headers: { Authorization: `Bearer ${apiToken}` } });
      const s = await r.json();
      return (s.packets_by_type?.['8']?.[0] ?? 0) > 0;
    }, 60000, 500);
    await page.goto(`${webUrl}/sensors/${dashless}`);
    await page.locator('.badge', { hasText: 'connected' }).first().waitFor();
    await page.locator('figure.chart').first().locator('svg').waitFor();
    await page.locator('figure.chart').first().locator('.legend li', { hasText: '8' }).waitFor();
    await shot('08-sensor-statistics');
    await page.goto(`${webUrl}/`);
    await page.locator(`a[href="/sensors/${dashless}"]`).first().waitFor();
    await page.locator('figure.chart svg').first().waitFor();
    await shot('09-dashboard-with-sensor');
  } finally {
    client.kill('SIGINT');
  }
});

test('the backscatter page ranks the victims d4-pibs found and charts their intensity', async (t) => {
  await page.goto(`${webUrl}/`);
  await page.getByRole('link', { name: 'Backscatter' }).click();
  await page.getByRole('heading', { name: 'Backscatter', exact: true }).waitFor();
  await page.getByRole('heading', { name: 'No backscatter results yet' }).waitFor();
  if (!has('d4-pibs')) {
    const why = `needs d4-pibs in ${binDir} (build that target)`;
    if (process.env.D4_REQUIRE_PIBS === '1') assert.fail(why);
    t.skip(why);
    return;
  }
  // The stack's configuration also tells d4-pibs where the web looks for results.
  const pibs = spawn(exe('d4-pibs'), ['-c', path.join(dataDir, 'd4.toml'), '--redis', path.join(vectors, 'backscatter.pcap')],
    { stdio: 'ignore' });
  assert.equal(await new Promise((r) => pibs.once('exit', r)), 0, 'd4-pibs');
  await page.goto(`${webUrl}/backscatter`);
  // The capture is from 2023: nothing in the last hour, and the page offers the newest data.
  await page.getByRole('link', { name: 'show the window ending then' }).click();
  await page.locator('a[href="/backscatter/203.0.113.10"]').waitFor();
  await page.getByLabel('Ranked by packets in').selectOption('0');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/window=0/);
  assert.equal(await page.locator('table.victims tbody tr').count(), 8);
  await shot('10-backscatter-victims');
  await page.locator('a[href="/backscatter/203.0.113.10"]').click();
  await page.getByRole('heading', { name: 'Backscatter victim' }).waitFor();
  await page.locator('td', { hasText: 'http' }).first().waitFor();
  await page.locator('figure.chart svg').waitFor();
  await page.locator('figure.chart .legend li', { hasText: 'packets per' }).waitFor();
  await shot('11-backscatter-victim');
});

test('the MISP feed page lists the events d4-misp-feed wrote for the organisation', async (t) => {
  if (!has('d4-stack') || !has('d4-misp-feed') || !has('d4-pibs')) {
    const why = `needs d4-stack, d4-misp-feed and d4-pibs in ${binDir} (build those targets)`;
    if (process.env.D4_REQUIRE_STACK === '1' && process.env.D4_REQUIRE_MISP_FEED === '1') assert.fail(why);
    t.skip(why);
    return;
  }
  // The backscatter of backscatter.pcap (analysed by the previous test) as the default
  // organisation's feed, written where d4-web serves it from.
  const feed = spawn(exe('d4-misp-feed'), ['-c', path.join(dataDir, 'd4.toml'), 'export', '--kind', 'backscatter',
    '--since', '2023-11-14', '--until', '2023-11-14'], { stdio: 'ignore' });
  assert.equal(await new Promise((r) => feed.once('exit', r)), 0, 'd4-misp-feed export');
  await page.goto(`${webUrl}/`);
  await page.getByRole('link', { name: 'MISP feed' }).click();
  await page.getByRole('heading', { name: 'MISP feed', exact: true }).waitFor();
  const event = page.locator('tr', { hasText: 'D4 backscatter: DDoS victims seen on 2023-11-14' });
  await event.waitFor();
  await shot('15-misp-feed');
  // The event's link is the file MISP pulls, served to the organisation.
  const href = await event.locator('a').getAttribute('href');
  const r = await context.request.get(`${webUrl}${href}`, { headers: { Authorization: apiToken } });
  assert.equal(r.status(), 200);
  assert.equal((await r.json()).Event.Orgc.uuid, mispOrg);
});
