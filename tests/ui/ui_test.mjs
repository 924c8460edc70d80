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
import { createServer } from 'node:http';
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
let provider; // { server, base, calls }: a fake OpenAI-compatible cloud provider
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

// A fake OpenAI-compatible provider on loopback: GET /v1/models, POST /v1/chat/completions
// (streamed word by word or not), only with `Authorization: Bearer sk-ui-fake-provider-key`.
const kProviderKey = 'sk-ui-fake-provider-key';
function startProvider() {
  const calls = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls.push({ method: req.method, url: req.url, auth: req.headers.authorization ?? '', body });
      if (req.headers.authorization !== `Bearer ${kProviderKey}`) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'bad key', type: 'invalid_request_error' } }));
        return;
      }
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'echo-1', object: 'model', owned_by: 'fake' }] }));
        return;
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        const r = JSON.parse(body);
        const words = ['Greetings', ' from', ' the', ' fake', ' provider', ` (${r.model}).`];
        const id = 'chatcmpl-fake';
        if (!r.stream) {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ id, object: 'chat.completion', created: 1, model: r.model,
            choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 3, completion_tokens: words.length, total_tokens: 3 + words.length } }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1,
          model: r.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        let i = 0;
        res.write(chunk({ role: 'assistant', content: '' }));
        const t = setInterval(() => {
          if (i < words.length) { res.write(chunk({ content: words[i++] })); return; }
          clearInterval(t);
          res.write(chunk({}, 'stop'));
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: r.model, choices: [],
            usage: { prompt_tokens: 3, completion_tokens: words.length, total_tokens: 3 + words.length } })}\n\n`);
          res.end('data: [DONE]\n\n');
        }, 30);
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"error":{"message":"not found"}}');
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () =>
    res({ server, base: `http://127.0.0.1:${server.address().port}`, calls })));
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

// The server's accounts (docs/auth.md): when it has them, the first test creates the admin in
// the browser and `session` (its token) authenticates the test's own API calls.
let accounts = false;
let session = '';

async function api(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (session && !('Authorization' in headers)) headers.Authorization = `Bearer ${session}`;
  const r = await fetch(server.base + path, { ...init, headers });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function sessionCookie() {
  return (await context.cookies(server.base)).find((c) => c.name === 'mlxm_session')?.value ?? '';
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
  provider = await startProvider();
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
  page.on('dialog', (d) => d.accept()); // the UI confirms deletions
  accounts = (await fetch(server.base + '/api/auth/status')).status !== 404;
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
  provider?.server.close();
  provider?.server.closeAllConnections();
  for (const d of [profileDir, homeDir]) if (d) rmSync(d, { recursive: true, force: true });
});
process.on('exit', () => {
  if (server?.proc.exitCode === null) server.proc.kill('SIGKILL');
  if (hub?.proc.exitCode === null) hub.proc.kill('SIGKILL');
});

describe('web UI', { concurrency: false }, () => {
  test('first run: the first account is created as the administrator and signed in', async () => {
    await page.goto(server.base + '/');
    if (!accounts) {
      // A server without accounts opens the app directly.
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
      return;
    }
    await page.getByRole('heading', { name: 'Create the administrator account' }).waitFor();
    await shot('first-run');
    await page.locator('#auth-username').fill('admin');
    await page.locator('#auth-password').fill('short');
    await page.locator('#auth-confirm').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByTestId('auth-error').filter({ hasText: 'at least 8' }).waitFor();
    await page.locator('#auth-password').fill('correct horse battery');
    await page.locator('#auth-confirm').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await page.getByTestId('signed-in').filter({ hasText: 'admin' }).waitFor();
    session = await sessionCookie();
    assert.match(session, /^[0-9a-f]{64}$/, 'a session cookie');
    const me = await api('/api/auth/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.user.username, 'admin');
    assert.equal(me.body.user.is_admin, true);
    assert.equal((await fetch(server.base + '/admin/models')).status, 401, 'admin routes need credentials now');
  });

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

  test('a hub search finds a model; its download shows progress, pauses, resumes and completes; another is cancelled', async () => {
    await page.goto(server.base + '/#/models');
    await page.locator('[data-testid=model-row][data-model=demo]').waitFor();
    // Hub search (the fake hub) lists the repo; its Download button starts the job.
    await page.locator('#hub-q').fill('demo-copy');
    await page.getByTestId('hub-search').click();
    const hit = page.locator('[data-testid=hub-hit][data-model="ui-org/demo-copy"]');
    await hit.waitFor();
    assert.equal(await page.locator('[data-testid=hub-hit]').count(), 1);
    await hit.getByRole('button', { name: 'Download ui-org/demo-copy' }).click();
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

  test('dashboard: unload, preload, pin and unpin a model; the models page deletes it', async () => {
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
    // Unpin keeps it loaded.
    await copy.getByRole('button', { name: 'Unpin ui-org/demo-copy' }).click();
    await copy.locator('.badge', { hasText: 'pinned' }).waitFor({ state: 'detached' });
    const unpinned = (await api('/admin/models')).body.data.find((m) => m.id === 'ui-org/demo-copy');
    assert.equal(unpinned?.state, 'loaded');
    assert.equal(unpinned?.pinned, false);
    await copy.getByRole('button', { name: 'Unload ui-org/demo-copy' }).click();
    await copy.waitFor({ state: 'detached' });
    // Deleted from the models page (confirmed): gone from the list and from the server.
    await page.goto(server.base + '/#/models');
    const row = page.locator('[data-testid=model-row][data-model="ui-org/demo-copy"]');
    await row.getByRole('button', { name: 'Delete ui-org/demo-copy' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await api('/v1/models')).body.data.some((m) => m.id === 'ui-org/demo-copy'), false);
  });

  test('settings: a provider is added (key masked, never shown back), tested, and a routing rule sends a chat there', async () => {
    await page.goto(server.base + '/#/settings');
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    // Live server settings: the idle TTL is applied at once (the pool reports it) and kept.
    const server_ = page.getByTestId('server-settings');
    if ((await api('/api/settings/server')).status === 200) {
      await server_.locator('#s-model_ttl_seconds').fill('abc');
      await server_.getByRole('button', { name: 'Save' }).click();
      await server_.locator('.err-text', { hasText: 'model_ttl_seconds' }).waitFor();
      await server_.locator('#s-model_ttl_seconds').fill('900');
      await server_.getByRole('button', { name: 'Save' }).click();
      await page.getByTestId('server-settings-info').filter({ hasText: 'model_ttl_seconds' }).waitFor();
      assert.equal((await api('/api/settings/server')).body.settings.model_ttl_seconds, 900);
      assert.equal((await api('/admin/models')).body.pool.ttl_seconds, 900, 'the pool uses it now');
      await server_.locator('#s-model_ttl_seconds').fill('0');
      await server_.getByRole('button', { name: 'Save' }).click();
      await eventually(async () => (await api('/api/settings/server')).body.settings.model_ttl_seconds === 0, 'TTL back to off', 5000);
    }
    await page.getByTestId('add-provider').click();
    const form = page.getByTestId('provider-form');
    await form.locator('#p-name').fill('fakeai');
    await form.locator('#p-kind').selectOption('openai_compatible');
    await form.locator('#p-url').fill(`${provider.base}/v1`);
    await form.locator('#p-key').fill(kProviderKey);
    await form.getByRole('button', { name: 'Save provider' }).click();
    const row = page.locator('[data-testid=provider-row][data-name=fakeai]');
    await row.waitFor();
    const masked = await row.getByTestId('provider-key').textContent();
    assert.ok(!masked.includes(kProviderKey) && /\*/.test(masked), `masked key shown: ${masked}`);
    assert.ok(!(await page.content()).includes(kProviderKey), 'the key is nowhere in the page');
    const listed = (await api('/api/settings/providers')).body.providers.find((p) => p.name === 'fakeai');
    assert.equal(listed.has_key, true);
    assert.ok(!JSON.stringify(listed).includes(kProviderKey));

    await row.getByRole('button', { name: 'Test fakeai' }).click();
    const result = page.getByTestId('provider-test');
    await result.waitFor();
    assert.equal(await result.getAttribute('data-ok'), 'true', await page.locator('.sub-row').textContent());
    await page.locator('.sub-row', { hasText: '1 models' }).waitFor();
    assert.ok(provider.calls.some((c) => c.url === '/v1/models' && c.auth === `Bearer ${kProviderKey}`), 'the test used the stored key');

    // Editing shows an empty key field and keeps the stored key.
    await row.getByRole('button', { name: 'Edit fakeai' }).click();
    assert.equal(await page.locator('#p-key').inputValue(), '');
    await page.getByTestId('provider-form').getByRole('button', { name: 'Save provider' }).click();
    await page.getByTestId('settings-notice').filter({ hasText: 'Saved provider fakeai' }).waitFor();
    assert.equal((await api('/api/settings/providers')).body.providers.find((p) => p.name === 'fakeai').has_key, true);

    // Two rules: a prefix rule to the provider, then an exact one back to local.
    const addRule = async (pattern, match, backend, model = '') => {
      await page.getByTestId('add-rule').click();
      const f = page.getByTestId('rule-form');
      await f.locator('#r-pattern').fill(pattern);
      await f.locator('#r-match').selectOption(match);
      await f.locator('#r-backend').selectOption(backend);
      await f.locator('#r-model').fill(model);
      await f.getByRole('button', { name: 'Save rule' }).click();
      await page.locator(`[data-testid=rule-row][data-pattern="${pattern}"]`).waitFor();
    };
    await addRule('cloud-', 'prefix', 'fakeai', 'echo-1');
    await addRule('cloud-local', 'exact', 'local', 'demo');
    const testName = async (name) => {
      await page.locator('#rule-test-model').fill(name);
      await page.getByTestId('rule-test').click();
      await page.getByTestId('rule-test-result').filter({ hasText: name }).waitFor();
      return page.getByTestId('rule-test-backend').textContent();
    };
    assert.equal(await testName('cloud-local'), 'fakeai', 'the prefix rule comes first');
    await page.getByRole('button', { name: 'Move rule cloud-local up' }).click();
    await eventually(async () => (await page.getByTestId('rule-row').first().getAttribute('data-pattern')) === 'cloud-local', 'moved up', 5000);
    // The table moves at once; the server's order follows the reorder call.
    await eventually(async () => (await api('/api/settings/rules')).body.rules.map((r) => r.pattern).join() === 'cloud-local,cloud-',
      'the server has the new order', 5000);
    assert.equal(await testName('cloud-local'), 'local');
    assert.equal(await testName('cloud-anything'), 'fakeai');
    assert.equal(await testName('demo'), 'local');
    // Drag the prefix rule back to the top.
    await page.locator('[data-testid=rule-row][data-pattern="cloud-"]').dragTo(page.locator('[data-testid=rule-row][data-pattern="cloud-local"]'));
    await eventually(async () => (await api('/api/settings/rules')).body.rules[0].pattern === 'cloud-', 'reordered by drag', 5000);
    await page.getByRole('button', { name: 'Move rule cloud-local up' }).click();
    await eventually(async () => (await api('/api/settings/rules')).body.rules[0].pattern === 'cloud-local', 'moved up again', 5000);
    await shot('settings');

    // A provider used by a rule cannot be deleted: the server's reason is shown.
    await row.getByRole('button', { name: 'Delete fakeai' }).click();
    await page.getByTestId('settings-notice').filter({ hasText: 'used by rule' }).waitFor();

    // The chat playground asks for a routed name: the answer streams from the fake provider.
    await page.goto(server.base + '/#/chat');
    await page.getByRole('radio', { name: 'OpenAI' }).check();
    await page.locator('#model').selectOption({ label: 'Other model name…' });
    await page.locator('#custom-model').fill('cloud-chat');
    await page.locator('#max-tokens').fill('32');
    const k = await page.getByTestId('assistant-message').count();
    await page.locator('#chat-input').fill('Hello cloud');
    await page.getByTestId('send').click();
    const msg = page.getByTestId('assistant-message').nth(k);
    await msg.getByTestId('answer-stats').waitFor();
    assert.equal((await msg.getByTestId('answer').textContent()).trim(), 'Greetings from the fake provider (echo-1).');
    const upstream = provider.calls.filter((c) => c.url === '/v1/chat/completions').at(-1);
    assert.equal(JSON.parse(upstream.body).model, 'echo-1', 'the rule\'s backend model was asked for');
    await shot('chat-cloud');
  });

  test('accounts: sign out and in, a requested account is approved, an API key is shown once and revoked', async (t) => {
    if (!accounts) {
      t.skip('this server has no accounts (/api/auth is not a route)');
      return;
    }
    const signIn = async (username, password) => {
      await page.locator('#auth-username').fill(username);
      await page.locator('#auth-password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    };
    await page.goto(server.base + '/#/');
    await page.getByTestId('logout').click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await api('/api/auth/me', { headers: { Authorization: `Bearer ${session}` } })).status, 401, 'the session ended');
    await signIn('admin', 'wrong password!');
    await page.getByTestId('auth-error').filter({ hasText: 'Wrong username or password' }).waitFor();
    await shot('login');

    // Someone requests an account: pending, cannot sign in yet.
    await page.getByRole('button', { name: 'No account? Request one' }).click();
    await page.locator('#auth-username').fill('bob');
    await page.locator('#auth-password').fill('bob password 1');
    await page.locator('#auth-confirm').fill('bob password 1');
    await page.getByRole('button', { name: 'Request account' }).click();
    await page.getByTestId('auth-info').filter({ hasText: 'approve' }).waitFor();
    await signIn('bob', 'bob password 1');
    await page.getByTestId('auth-error').filter({ hasText: 'waits for an administrator' }).waitFor();

    // The admin approves it.
    await signIn('admin', 'correct horse battery');
    await page.getByTestId('signed-in').filter({ hasText: 'admin' }).waitFor();
    session = await sessionCookie();
    await page.goto(server.base + '/#/users');
    const bob = page.locator('[data-testid=user-row][data-username=bob]');
    await bob.waitFor();
    assert.equal(await bob.getAttribute('data-status'), 'pending');
    await shot('users');
    await bob.getByRole('button', { name: 'Approve bob' }).click();
    await page.locator('[data-testid=user-row][data-username=bob][data-status=active]').waitFor();

    // An API key: shown once, works on the client API, gone after revoking.
    await page.goto(server.base + '/#/keys');
    await page.locator('#key-name').fill('ui-keep');
    await page.getByTestId('create-key').click();
    const kept = await page.getByTestId('new-key-value').inputValue();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.locator('#key-name').fill('ui-test');
    await page.getByTestId('create-key').click();
    const key = await page.getByTestId('new-key-value').inputValue();
    assert.match(key, /^mlxm-[0-9a-f]{48}$/);
    const keyRow = page.locator('[data-testid=key-row][data-name=ui-test]');
    await keyRow.waitFor();
    assert.ok(key.startsWith((await keyRow.locator('.mono').textContent()).replace('…', '')), 'listed by its prefix');
    await shot('keys');
    const listed = await api('/api/keys');
    assert.ok(!JSON.stringify(listed.body).includes(key), 'the list never has the key');
    await page.reload();
    await keyRow.waitFor();
    assert.equal(await page.getByTestId('new-key').count(), 0, 'shown only once');
    assert.ok(!(await page.content()).includes(key));
    const models = (auth) => fetch(server.base + '/v1/models', { headers: auth ? { Authorization: `Bearer ${auth}` } : {} }).then((r) => r.status);
    assert.equal(await models(''), 401, 'with a key the client API needs one');
    assert.equal(await models(key), 200);
    await keyRow.getByRole('button', { name: 'Revoke ui-test' }).click();
    await keyRow.waitFor({ state: 'detached' });
    assert.equal(await models(key), 401, 'a revoked key stops working');
    assert.equal(await models(kept), 200, 'the other key still works');
    await page.locator('[data-testid=key-row][data-name=ui-keep]').getByRole('button', { name: 'Revoke ui-keep' }).click();
    await page.locator('[data-testid=key-row]').first().waitFor({ state: 'detached' });
    assert.equal(await models(''), 200, 'no key left: the client API is open again');

    // A plain user sees no administration pages.
    await page.getByTestId('logout').click();
    await signIn('bob', 'bob password 1');
    await page.getByTestId('signed-in').filter({ hasText: 'bob' }).waitFor();
    const navText = await page.locator('nav.sidebar ul').textContent();
    assert.ok(!/Users|API keys|Settings|Logs/.test(navText), `nav for a user: ${navText}`);
    await page.getByTestId('admin-only').filter({ hasText: 'signed in as bob' }).waitFor(); // the dashboard's pool view
    await page.getByTestId('logout').click();
    await signIn('admin', 'correct horse battery');
    await page.getByTestId('signed-in').filter({ hasText: 'admin' }).waitFor();
    session = await sessionCookie();
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
      ['logs-mobile', '/#/logs'], ['settings-mobile', '/#/settings']]) {
      await page.goto(server.base + path);
      await page.locator('main h1, main textarea').first().waitFor();
      await page.waitForTimeout(300);
      await shot(name);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      // The outermost elements sticking out of the window (not clipped by a scrolling parent).
      const wide = await page.evaluate(() => [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter((e) => { for (let p = e.parentElement; p; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return false; return true; })
        .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`));
      assert.ok(overflow <= 0, `${path} scrolls sideways by ${overflow}px (${wide.join(', ')})`);
    }
    await page.setViewportSize({ width: 1360, height: 860 });
    assert.deepEqual(page.consoleErrors, [], 'no uncaught errors in the page');
  });
});
