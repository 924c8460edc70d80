// A local fake of the Hugging Face hub for the downloader tests (the client under test is the
// production code). Serves repos from ROOT/<org>/<name>/<files>:
//   GET /api/models/<org>/<name>/revision/<rev>[?blobs=true] -> {sha, siblings: [{rfilename,
//       size, lfs: {sha256, size}}]} (*.safetensors are "LFS" files)
//   GET /<org>/<name>/resolve/<rev>/<file>  -> 302 to /cdn/<org>/<name>/<file>
//   GET /cdn/<org>/<name>/<file>            -> the bytes, honouring Range (206)
//   GET /api/models?search=TEXT&limit=N[&filter=F] -> [{id, modelId, downloads, likes,
//       lastModified, tags}] for the repos whose id contains TEXT (case-insensitive), every repo
//       tagged "mlx" and "safetensors"; a filter keeps repos carrying that tag; most downloads
//       first. The last search's query string is in the stats (`last_search`).
// Knobs (argv): --token=T (401 without, 403 wrong), --fail-next=N (first N file GETs answer
// 500), --drop-after=B (the first GET of each file sends B bytes then drops the connection),
// --slow-bps=R (throttle file bodies), --corrupt (flip a byte of LFS files), --evil-listing
// (list "../escape.json"), --ignore-range, --stats=FILE (JSON counters after every request).
// Prints "PORT <n>" on stdout once listening.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const args = Object.fromEntries(process.argv.slice(3).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k, v === undefined ? true : v];
}));
const root = process.argv[2];
let failNext = Number(args['fail-next'] || 0);
const dropAfter = Number(args['drop-after'] || 0);
const slowBps = Number(args['slow-bps'] || 0);
const dropped = new Set();
const stats = { searches: 0, last_search: '', requests: 0, file_gets: 0, range_gets: 0, drops: 0, failures: 0, auth_failures: 0 };

function saveStats() {
  if (!args.stats) return;
  fs.writeFileSync(`${args.stats}.tmp`, JSON.stringify(stats));
  fs.renameSync(`${args.stats}.tmp`, args.stats);  // readers never see a half-written file
}

function shaOf(org, name) {
  return crypto.createHash('sha1').update(`${org}/${name}`).digest('hex');
}

function authOk(req, res) {
  if (!args.token) return true;
  const h = req.headers['authorization'];
  if (!h) { res.writeHead(401); res.end('{"error":"missing token"}'); stats.auth_failures++; return false; }
  if (h !== `Bearer ${args.token}`) { res.writeHead(403); res.end('{"error":"bad token"}'); stats.auth_failures++; return false; }
  return true;
}

function listing(org, name) {
  const dir = path.join(root, org, name);
  const siblings = [];
  for (const f of fs.readdirSync(dir).sort()) {
    const data = fs.readFileSync(path.join(dir, f));
    const s = { rfilename: f, size: data.length };
    if (f.endsWith('.safetensors')) {
      s.lfs = { sha256: crypto.createHash('sha256').update(data).digest('hex'), size: data.length };
    }
    siblings.push(s);
  }
  if (args['evil-listing']) siblings.push({ rfilename: '../escape.json', size: 2 });
  return { id: `${org}/${name}`, sha: shaOf(org, name), siblings };
}

function search(url) {
  const text = (url.searchParams.get('search') || '').toLowerCase();
  const limit = Number(url.searchParams.get('limit') || 1000);
  const filter = url.searchParams.get('filter');
  const out = [];
  for (const org of fs.readdirSync(root).sort()) {
    for (const name of fs.readdirSync(path.join(root, org)).sort()) {
      const id = `${org}/${name}`;
      if (!id.toLowerCase().includes(text)) continue;
      const tags = ['mlx', 'safetensors'];
      if (filter && !tags.includes(filter)) continue;
      const stat = fs.statSync(path.join(root, org, name));
      out.push({ _id: shaOf(org, name).slice(0, 24), id, modelId: id,
        downloads: 1000 + id.length * 37, likes: id.length,
        lastModified: stat.mtime.toISOString(), tags });
    }
  }
  out.sort((a, b) => b.downloads - a.downloads || a.id.localeCompare(b.id));
  return out.slice(0, limit);
}

function sendBody(req, res, data) {
  if (!slowBps) { res.end(data); return; }
  let off = 0;
  const chunk = Math.max(1, Math.floor(slowBps / 20));
  const tick = () => {
    if (res.destroyed) return;
    if (off >= data.length) { res.end(); return; }
    res.write(data.subarray(off, off + chunk));
    off += chunk;
    setTimeout(tick, 50);
  };
  tick();
}

const server = http.createServer((req, res) => {
  stats.requests++;
  const url = new URL(req.url, 'http://x');
  const parts = url.pathname.split('/').filter((p) => p.length > 0).map(decodeURIComponent);
  try {
    if (parts[0] === 'api' && parts[1] === 'models' && parts.length === 2) {
      if (!authOk(req, res)) return;
      stats.searches++;
      stats.last_search = url.search;
      saveStats();  // before answering, so a client reads this search's stats
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(search(url)));
      return;
    }
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision') {
      if (!authOk(req, res)) return;
      const [org, name] = [parts[2], parts[3]];
      if (!fs.existsSync(path.join(root, org, name))) { res.writeHead(404); res.end('{"error":"Repository not found"}'); return; }
      const body = JSON.stringify(listing(org, name));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
      return;
    }
    if (parts[2] === 'resolve') {
      if (!authOk(req, res)) return;
      const [org, name] = [parts[0], parts[1]];
      const file = parts.slice(4).join('/');
      res.writeHead(302, { Location: `/cdn/${org}/${name}/${encodeURIComponent(file)}` });
      res.end();
      return;
    }
    if (parts[0] === 'cdn') {
      const [org, name] = [parts[1], parts[2]];
      const file = parts.slice(3).join('/');
      const p = path.join(root, org, name, file);
      stats.file_gets++;
      if (failNext > 0) { failNext--; stats.failures++; res.writeHead(500); res.end('boom'); return; }
      if (!fs.existsSync(p)) { res.writeHead(404); res.end('no such file'); return; }
      let data = fs.readFileSync(p);
      if (args.corrupt && file.endsWith('.safetensors')) { data = Buffer.from(data); data[data.length - 1] ^= 0xff; }
      const range = req.headers['range'];
      let start = 0;
      if (range && !args['ignore-range']) {
        stats.range_gets++;
        const m = /^bytes=(\d+)-$/.exec(range);
        start = m ? Number(m[1]) : 0;
        if (start >= data.length) { res.writeHead(416); res.end(); return; }
        res.writeHead(206, { 'Content-Length': data.length - start,
          'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}` });
      } else {
        res.writeHead(200, { 'Content-Length': data.length });
      }
      const body = data.subarray(start);
      if (dropAfter > 0 && !dropped.has(file) && body.length > dropAfter) {
        dropped.add(file);
        stats.drops++;
        res.write(body.subarray(0, dropAfter), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      sendBody(req, res, body);
      return;
    }
    res.writeHead(404);
    res.end('not found');
  } finally {
    saveStats();
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
