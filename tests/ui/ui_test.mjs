// Browser tests of the web UI: Debian's Chromium driven by playwright-core against the real
// `mlx-manager serve` (demo model, free port), serving the built UI (web/dist).
//
//   node --test tests/ui/ui_test.mjs   (env: MLXM_BINARY, MLXM_WEB_DIR, MLXM_DEMO_MODEL,
//                                       MLXM_UI_SCREENSHOTS, MLXM_CHROMIUM)
// Registered with CTest (label ui) by tests/ui/CMakeLists.txt. Screenshots of each page go to
// MLXM_UI_SCREENSHOTS (default /tmp/mlxm-ui-screenshots).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const repo = resolve(here, '../..');
const binary = process.env.MLXM_BINARY ?? join(repo, 'build/bin/mlx-manager');
const webDir = process.env.MLXM_WEB_DIR ?? join(repo, 'web');
const demoModel = process.env.MLXM_DEMO_MODEL ?? join(repo, 'models/demo');
const shots = process.env.MLXM_UI_SCREENSHOTS ?? '/tmp/mlxm-ui-screenshots';
const chromiumPath = process.env.MLXM_CHROMIUM ?? '/usr/bin/chromium';
assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath} (scripts/setup installs Debian's chromium)`);
const { chromium } = createRequire(join(webDir, 'package.json'))('playwright-core');

let server; // { proc, base, log() }
let hub; // { proc, base }: tests/pool/fake_hub.mjs serving copies of the demo model
let context; // persistent browser context (fresh profile)
let page;
let profileDir;
let homeDir;

// A fake Hugging Face hub (the downloader tests' one) with two repos that are the demo model,
// throttled to ~3 MB/s so that a download can be watched, paused and resumed.
function startHub() {
  const root = join(homeDir, 'hub-root');
  for (const name of ['demo-copy', 'demo-cancel']) {
    const dir = join(root, 'ui-org', name);
    mkdirSync(dir, { recursive: true });
    for (const f of readdirSync(demoModel)) symlinkSync(join(demoModel, f), join(dir, f));
  }
  const proc = spawn(process.execPath, [join(repo, 'tests/pool/fake_hub.mjs'), root, '--slow-bps=3000000'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) res({ proc, base: `http://127.0.0.1:${m[1]}` });
    });
    proc.on('exit', (code) => rej(new Error(`fake hub exited (${code})`)));
  });
}

// Starts the server on a free port: it binds port 0 and logs the port it got.
function startServer() {
  // Each engine step sleeps 10 ms (MLXM_DEBUG_STEP_DELAY_MS) so that the long generations the
  // tests watch outlast the dashboard's 2 s refresh even on a fast, idle machine.
  const env = { ...process.env, MLX_MANAGER_HOME: homeDir, HF_HOME: join(homeDir, 'hf'), MLX_MANAGER_LOG_LEVEL: 'info',
    MLXM_DEBUG_STEP_DELAY_MS: '10', HF_ENDPOINT: hub.base };
  for (const k of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_HUB_CACHE']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('MLX_SERVER_')) delete env[k];
  const dist = join(webDir, 'dist');
  assert.ok(existsSync(join(dist, 'index.html')), `no built UI at ${dist} (run make build)`);
  const proc = spawn(binary, ['serve', '--host', '127.0.0.1', '--port', '0', '--model', demoModel, '--static-dir', dist], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start:\n${out}`)), 30000);
    const onData = (d) => {
      out += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res({ proc, base: `http://127.0.0.1:${m[1]}`, log: () => out });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited (${code}):\n${out}`));
    });
  });
}

async function api(path, init) {
  const r = await fetch(server.base + path, init);
  return { status: r.status, body: await r.json() };
}

async function demoStatus() {
  const { body } = await api('/admin/models');
  return body.data.find((m) => m.id === 'demo');
}

// Polls `fn` until it returns a truthy value; fails with `what` after `ms`.
async function eventually(fn, what, ms = 5000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out after ${ms} ms waiting for: ${what} (last: ${JSON.stringify(last)})`);
}

async function shot(name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

before(async () => {
  homeDir = mkdtempSync(join(tmpdir(), 'mlxm-ui-home-'));
  hub = await startHub();
  server = await startServer();
  await eventually(async () => (await fetch(server.base + '/health').catch(() => null))?.ok, '/health answers', 10000);
  profileDir = mkdtempSync(join(tmpdir(), 'mlxm-ui-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 860 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10000);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.consoleErrors = consoleErrors;
});

after(async () => {
  await context?.close().catch(() => {});
  if (server?.proc.exitCode === null) {
    server.proc.kill('SIGTERM');
    await new Promise((r) => { server.proc.once('exit', r); setTimeout(r, 5000); });
    if (server.proc.exitCode === null) server.proc.kill('SIGKILL');
  }
  if (hub?.proc.exitCode === null) hub.proc.kill('SIGTERM');
  for (const d of [profileDir, homeDir]) if (d) rmSync(d, { recursive: true, force: true });
});
process.on('exit', () => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
  if (hub?.proc.exitCode === null) hub.proc.kill('SIGKILL');
});

describe('web UI', { concurrency: false }, () => {
  test('the UI is served at / and the dashboard shows the demo model live', async () => {
    await page.goto(server.base + '/');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const card = page.locator('[data-testid=model-card][data-model=demo]');
    await card.waitFor();
    await assert.doesNotReject(page.locator('[data-testid=server-status]', { hasText: 'healthy' }).waitFor());
    await page.locator('[data-testid=system-card]', { hasText: 'cores' }).waitFor();

    // A request in the background: the dashboard (refreshing every 2 s) shows it in flight and
    // its KV blocks in use, then both back at zero. Its numbers are the server's.
    const ctl = new AbortController();
    const bg = fetch(server.base + '/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'Tell me about the sea.' }],
        max_tokens: 1000, ignore_eos: true, stream: true }),
      signal: ctl.signal,
    }).then((r) => r.body.getReader().read()).catch(() => {});
    const kvUsed = card.locator('[data-testid=kv-used]');
    await eventually(async () => (await card.locator('[data-testid=in-flight]').textContent()) === '1'
      && (await kvUsed.count()) === 1 && Number(await kvUsed.textContent()) > 0,
    'dashboard shows 1 request in flight and KV blocks in use', 8000);
    const used = Number(await card.locator('[data-testid=kv-used]').textContent());
    const total = Number(await card.locator('[data-testid=kv-total]').textContent());
    const s = await demoStatus();
    assert.ok(used > 0, `KV blocks in use while generating: ${used}`);
    assert.equal(total, s.kv_blocks.total, 'KV total is the server\'s');
    assert.ok(total > used);
    await shot('dashboard');
    ctl.abort();
    await bg;
    await eventually(async () => (await card.locator('[data-testid=in-flight]').textContent()) === '0'
      && (await card.locator('[data-testid=kv-used]').textContent()) === '0', 'dashboard back to idle', 6000);
  });

  test('chat streams an answer token by token and Stop ends the request on the server', async () => {
    await page.goto(server.base + '/#/chat?model=demo');
    await assert.doesNotReject(page.locator('#model').evaluate((el) => el.value === 'demo' || Promise.reject(new Error(el.value))));
    await page.locator('#max-tokens').fill('1500');
    await page.locator('#ignore-eos').check();
    await page.locator('#chat-input').fill('Tell me a long story about a ship.');
    await page.getByTestId('send').click();
    const answer = page.getByTestId('answer').last();
    await eventually(async () => ((await answer.textContent()) ?? '').trim().length > 10, 'first tokens on the page', 8000);
    const early = (await answer.textContent()).trim();
    await eventually(async () => (await answer.textContent()).trim().length > early.length + 10, 'the answer grows', 8000);
    const s = await demoStatus();
    assert.equal(s.requests_in_flight, 1, 'the request is running on the server');
    assert.ok(s.kv_blocks.used > 0);
    await shot('chat-streaming');

    await page.getByTestId('stop').click();
    await page.getByTestId('stopped').waitFor();
    await page.getByTestId('send').waitFor(); // Send is back
    // The server dropped the request and gave its KV blocks back.
    await eventually(async () => {
      const m = await demoStatus();
      return m.requests_in_flight === 0 && m.kv_blocks.used === 0 && m.running === 0;
    }, 'request gone and KV blocks free on the server', 3000);
    const stopped = await answer.textContent();
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await answer.textContent(), stopped, 'no tokens after Stop');
    assert.ok((await demoStatus()).tokens_generated < 1500, 'generation did not run to max_tokens');
    assert.match(await page.getByTestId('ttft').last().textContent(), /\d+(\.\d+)? (ms|s)$/);
    assert.match(await page.getByTestId('tps').last().textContent(), /^\d+(\.\d+)? tok\/s$/);
  });

  test('a complete answer shows its timing, token count and finish reason', async () => {
    await page.locator('#ignore-eos').uncheck();
    await page.locator('#max-tokens').fill('12');
    await page.locator('#system').fill('You are terse.');
    const k = await page.getByTestId('assistant-message').count();
    await page.locator('#chat-input').fill('Write one sentence about **music**.');
    await page.locator('#chat-input').press('Enter');
    const stats = page.getByTestId('assistant-message').nth(k).getByTestId('answer-stats');
    await stats.waitFor();
    const text = await stats.textContent();
    assert.match(text, /TTFT \d/);
    assert.match(text, /(\d+) tokens/);
    const n = Number(/(\d+) tokens/.exec(text)[1]);
    assert.ok(n >= 1 && n <= 12, `usage completion tokens ${n}`);
    assert.match(text, /length|stop/);
    assert.equal(await page.getByTestId('user-message').count(), 2);
    await shot('chat');
  });

  test('a server error (bad max_tokens) is shown to the user', async () => {
    await page.locator('#max-tokens').fill('-5');
    await page.locator('#chat-input').fill('Hello?');
    await page.getByTestId('send').click();
    const err = page.getByTestId('chat-error').last();
    await err.waitFor();
    const msg = await err.textContent();
    assert.match(msg, /max_tokens/);
    assert.match(msg, /-5/);
    await page.locator('#max-tokens').fill('64');
    await shot('chat-error');
  });

  test('the Anthropic protocol toggle streams an answer from /v1/messages', async () => {
    await page.goto(server.base + '/#/chat?model=demo');
    await page.getByRole('radio', { name: 'Anthropic' }).check();
    await page.locator('#max-tokens').fill('24');
    const posted = [];
    const onRequest = (r) => r.method() === 'POST' && posted.push({ url: new URL(r.url()).pathname, body: r.postDataJSON() });
    page.on('request', onRequest);
    const k = await page.getByTestId('assistant-message').count();
    await page.locator('#chat-input').fill('Say hello the Anthropic way.');
    await page.getByTestId('send').click();
    const msg = page.getByTestId('assistant-message').nth(k);
    const stats = msg.getByTestId('answer-stats');
    await stats.waitFor();
    page.off('request', onRequest);
    assert.deepEqual(posted.map((p) => p.url), ['/v1/messages']);
    assert.equal(posted[0].body.stream, true);
    assert.equal(posted[0].body.max_tokens, 24);
    assert.ok(!('stream_options' in posted[0].body), 'an Anthropic body, not an OpenAI one');
    assert.match(await msg.locator('.role').textContent(), /Anthropic/);
    const text = await stats.textContent();
    assert.match(text, /TTFT \d/);
    assert.match(text, /end_turn|max_tokens/, 'Anthropic stop reasons');
    const n = Number(/(\d+) tokens/.exec(text)[1]);
    assert.ok(n >= 1 && n <= 24, `output tokens ${n}`);
    assert.ok(((await msg.getByTestId('answer').textContent()) ?? '').length > 0, 'some text streamed');
    // The server recorded it as a streamed /v1/messages request.
    await eventually(async () => (await api('/admin/audit-logs?limit=5')).body.data
      .some((r) => r.endpoint === '/v1/messages' && r.stream === true && r.status === 'success'),
    'the audit log has the streamed /v1/messages request', 5000);
    await shot('chat-anthropic');
    await page.getByRole('radio', { name: 'OpenAI' }).check();
  });

  test('the logs page updates live when a chat is made, and exports a valid JSONL file', async () => {
    await page.goto(server.base + '/#/logs');
    await page.getByRole('heading', { name: 'Request logs' }).waitFor();
    await page.getByTestId('feed-state').filter({ hasText: 'Live' }).waitFor();
    await page.getByTestId('log-row').first().waitFor(); // earlier tests made requests
    await page.evaluate(() => { window.__noReload = true; });
    const before = Number((await page.getByTestId('stat-total').textContent()).replace(/,/g, ''));
    const maxId = Math.max(...await page.getByTestId('log-row').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id))));

    // A chat request made outside the page shows up at the top, pushed over the WebSocket.
    const r = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-ID': 'ui-live-log-test' },
      body: JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: 'log me' }], max_tokens: 4 }),
    });
    assert.equal(r.status, 200);
    const top = page.getByTestId('log-row').first();
    await eventually(async () => Number(await top.getAttribute('data-id')) > maxId, 'the new request at the top of the table', 8000);
    assert.equal(await top.getAttribute('data-model'), 'demo');
    assert.equal(await top.getAttribute('data-status'), 'success');
    assert.equal(await page.evaluate(() => window.__noReload), true, 'no page reload');
    await eventually(async () => Number((await page.getByTestId('stat-total').textContent()).replace(/,/g, '')) === before + 1,
      'stats count the new request', 5000);
    await top.getByRole('button', { name: /Details of request/ }).click();
    await page.locator('tr.detail', { hasText: 'ui-live-log-test' }).waitFor();
    await shot('logs');

    // A status filter the new row does not match hides it; back to all shows it again.
    await page.locator('#f-status').selectOption('error');
    await eventually(async () => (await page.locator('[data-testid=log-row][data-status=success]').count()) === 0, 'filtered to errors', 5000);
    await page.locator('#f-status').selectOption('');
    await page.locator('[data-testid=log-row][data-status=success]').first().waitFor();

    // Export: fetched with the admin headers and saved as a file; every line is a row.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-jsonl').click()]);
    assert.match(dl.suggestedFilename(), /^mlx-audit-logs-\d{8}-\d{6}\.jsonl$/);
    const lines = readFileSync(await dl.path(), 'utf8').split('\n').filter((l) => l !== '');
    const rows = lines.map((l) => JSON.parse(l));
    assert.equal(rows.length, before + 1, 'one line per logged request');
    const mine = rows.find((x) => x.request_id === 'ui-live-log-test');
    assert.ok(mine, 'the new request is in the export');
    assert.equal(mine.model, 'demo');
    assert.equal(mine.endpoint, '/v1/chat/completions');
    await page.getByTestId('logs-notice').filter({ hasText: 'Exported JSONL' }).waitFor();
  });

  test('models page lists the demo model; unload and load go through the pool', async () => {
    await page.goto(server.base + '/#/models');
    const row = page.locator('[data-testid=model-row][data-model=demo]');
    await row.waitFor();
    await row.locator('.badge', { hasText: 'loaded' }).waitFor();
    await shot('models');
    const probe = await api('/admin/models/no-such-model/unload', { method: 'POST' });
    if (probe.status === 404 && probe.body.error?.code === 'not_found') {
      // A server without the pool admin endpoints: the UI says so instead of failing silently.
      await row.getByRole('button', { name: 'Unload demo' }).click();
      await page.getByTestId('models-notice').filter({ hasText: 'no pool admin endpoints' }).waitFor();
      return;
    }
    await row.getByRole('button', { name: 'Unload demo' }).click();
    await row.locator('.badge', { hasText: 'not loaded' }).waitFor();
    assert.equal((await demoStatus())?.state ?? 'available', 'available');
    await row.getByRole('button', { name: 'Load demo' }).click();
    await row.locator('.badge', { hasText: 'pinned' }).waitFor({ timeout: 15000 });
    await page.getByTestId('models-notice').filter({ hasText: 'Loaded demo' }).waitFor();
    const s = await demoStatus();
    assert.equal(s.state, 'loaded');
    assert.equal(s.pinned, true);
    await shot('models-after-load');
  });

  test('a hub download shows progress, pauses, resumes and completes; another is cancelled', async () => {
    await page.goto(server.base + '/#/models');
    await page.locator('[data-testid=model-row][data-model=demo]').waitFor();
    await page.locator('#download-model').fill('ui-org/demo-copy');
    await page.getByTestId('download-start').click();
    const job = page.locator('[data-testid=download-job][data-model="ui-org/demo-copy"]');
    await job.waitFor();
    const bytesDone = async () => (await api('/api/models/downloads')).body.data.find((j) => j.repo === 'ui-org/demo-copy')?.bytes_done ?? 0;
    await eventually(async () => (await job.getAttribute('data-status')) === 'running'
      && Number(await job.locator('[role=meter]').getAttribute('aria-valuenow')) > 0, 'progress shown while running', 8000);
    await shot('models-download');
    await job.getByRole('button', { name: 'Pause ui-org/demo-copy' }).click();
    await eventually(async () => (await job.getAttribute('data-status')) === 'paused', 'paused', 5000);
    const paused = await bytesDone();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await bytesDone(), paused, 'no bytes arrive while paused');
    await job.getByRole('button', { name: 'Resume ui-org/demo-copy' }).click();
    await eventually(async () => (await job.getAttribute('data-status')) === 'completed', 'download completed', 20000);
    // The new model is listed (from the HF cache) and can be loaded.
    const row = page.locator('[data-testid=model-row][data-model="ui-org/demo-copy"]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Load ui-org/demo-copy' }).waitFor();

    await page.locator('#download-model').fill('ui-org/demo-cancel');
    await page.getByTestId('download-start').click();
    const other = page.locator('[data-testid=download-job][data-model="ui-org/demo-cancel"]');
    await other.getByRole('button', { name: 'Cancel ui-org/demo-cancel' }).click();
    await eventually(async () => (await other.getAttribute('data-status')) === 'cancelled', 'cancelled', 5000);
    assert.equal((await api('/v1/models')).body.data.some((m) => m.id === 'ui-org/demo-cancel'), false);

    // A bad id is refused before the server is asked; an unknown repo is the server's error.
    await page.locator('#download-model').fill('not-a-repo');
    await page.getByTestId('download-start').click();
    await page.locator('#download-error', { hasText: 'org/name' }).waitFor();
    await shot('models-downloads-done');
  });

  test('dashboard: unload, preload and pin a model', async () => {
    await page.goto(server.base + '/#/');
    const card = page.locator('[data-testid=model-card][data-model=demo]');
    await card.waitFor();
    await card.getByRole('button', { name: 'Unload demo' }).click();
    await card.waitFor({ state: 'detached' });
    assert.equal((await demoStatus())?.state ?? 'available', 'available');
    await page.locator('#preload-model').selectOption('demo');
    await page.getByRole('button', { name: 'Preload', exact: true }).click();
    await page.getByTestId('dashboard-notice').filter({ hasText: 'demo is loaded and pinned' }).waitFor({ timeout: 15000 });
    await card.locator('.badge', { hasText: 'pinned' }).waitFor();
    const s = await demoStatus();
    assert.equal(s.state, 'loaded');
    assert.equal(s.pinned, true);
    // A loaded, unpinned model gets a Pin button (requests load models unpinned).
    await api('/admin/models/ui-org/demo-copy/unload', { method: 'POST' }).catch(() => {});
    const r = await api('/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'ui-org/demo-copy', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }) });
    assert.equal(r.status, 200);
    const copy = page.locator('[data-testid=model-card][data-model="ui-org/demo-copy"]');
    await copy.waitFor();
    await copy.getByRole('button', { name: 'Pin ui-org/demo-copy' }).click();
    await copy.locator('.badge', { hasText: 'pinned' }).waitFor();
    await shot('dashboard-actions');
    await copy.getByRole('button', { name: 'Unload ui-org/demo-copy' }).click();
    await copy.waitFor({ state: 'detached' });
  });

  test('dark theme renders (screenshot)', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(server.base + '/#/');
    await page.locator('[data-testid=model-card][data-model=demo]').waitFor();
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, 'rgb(15, 17, 21)');
    await shot('dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    // The theme switch overrides the OS preference and is remembered across reloads.
    await page.getByLabel('Theme').selectOption('dark');
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(15, 17, 21)');
    await page.reload();
    await page.locator('[data-testid=model-card][data-model=demo]').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.goto(server.base + '/#/logs');
    await page.getByTestId('log-row').first().waitFor();
    await shot('logs-dark');
    await page.getByLabel('Theme').selectOption('system');
    assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(246, 247, 249)');
  });

  test('keyboard: skip link, navigation and the chat protocol toggle work without a mouse', async () => {
    await page.goto(server.base + '/#/');
    await page.locator('[data-testid=model-card]').first().waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    // Tab through the sidebar to the Logs link and follow it with Enter.
    await page.locator('nav a', { hasText: 'Chat' }).focus();
    for (let i = 0; i < 5 && (await page.evaluate(() => document.activeElement?.textContent?.trim())) !== 'Logs'; i++) {
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Request logs' }).waitFor();
    // Radio group: arrow keys move between OpenAI and Anthropic.
    await page.goto(server.base + '/#/chat');
    await page.getByRole('radio', { name: 'OpenAI' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getByRole('radio', { name: 'Anthropic' }).isChecked(), true);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.getByRole('radio', { name: 'OpenAI' }).isChecked(), true);
  });

  test('narrow screens: no horizontal scrolling on any page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of [['dashboard-mobile', '/#/'], ['chat-mobile', '/#/chat'], ['models-mobile', '/#/models'],
      ['logs-mobile', '/#/logs']]) {
      await page.goto(server.base + path);
      await page.locator('main h1, main textarea').first().waitFor();
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px`);
      await shot(name);
    }
    await page.setViewportSize({ width: 1360, height: 860 });
    assert.deepEqual(page.consoleErrors, [], 'no uncaught errors in the page');
  });
});
