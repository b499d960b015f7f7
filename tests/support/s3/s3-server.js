'use strict';
/*
 * s3-server.js — the S3 server the integration tests talk to: s3rver 3.7.1
 * (a real HTTP S3 server storing objects as files) behind a front end that
 * verifies SigV4 signatures like AWS and MinIO do.
 *
 * Why a wrapper: s3rver alone answers a PUT before the object is on disk
 * (a GET right after an overwrite may see the old or an empty body), lists
 * keys in directory-walk order rather than UTF-8 byte order (so pages can
 * skip keys such as "a-b" after "a/b"), and accepts any signature. This
 * process patches the first two in s3rver's filesystem store and puts the
 * verifier (sigv4.js) in front of it, so a wrong secret or a badly encoded
 * key gets 403 SignatureDoesNotMatch.
 *
 * Usage: node --openssl-legacy-provider s3-server.js STATE_DIR
 *   Environment: S3_ACCESS_KEY / S3_SECRET_KEY (default pgopipe /
 *   pgopipe-secret), S3_REGION (us-east-1), S3_BUCKETS (space-separated,
 *   default "pgopipe"), S3_PORT (front end port, default 0 = random).
 *   Writes STATE_DIR/endpoint ("http://127.0.0.1:PORT") once both servers
 *   listen; objects live under STATE_DIR/data. SIGTERM/SIGINT stop it.
 *
 * Test controls (no signature, 127.0.0.1 only, not S3):
 *   POST /__control/fail?count=N&status=503  answer the next N S3 requests
 *       with that status (S3's SlowDown / InternalError body), to exercise
 *       client retries;
 *   POST /__control/hang?count=N  accept the next N requests and never answer;
 *   GET  /__control/stats  JSON {requests, connections, failures}: the number
 *       of TCP connections shows whether a client reuses them.
 */
const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');
const { Transform } = require('stream');

const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Object = require('s3rver/lib/models/object');
const AWSAccount = require('s3rver/lib/models/account');
const { verify, S3Error } = require('./sigv4');

const stateDir = process.argv[2];
if (!stateDir) {
  console.error('usage: s3-server.js STATE_DIR');
  process.exit(2);
}
const accessKey = process.env.S3_ACCESS_KEY || 'pgopipe';
const secretKey = process.env.S3_SECRET_KEY || 'pgopipe-secret';
const region = process.env.S3_REGION || 'us-east-1';
const buckets = (process.env.S3_BUCKETS || 'pgopipe').split(/\s+/).filter(Boolean);
const frontPort = Number(process.env.S3_PORT || 0);

/* --- s3rver fixes ------------------------------------------------------- */

/* PUT: write to a temporary file, wait until it is flushed and closed, write
 * the metadata, then rename over the object; the response goes out only
 * after that, so a GET that follows a PUT sees the new bytes. */
FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const tmpPath = `${objectPath}.tmp-${process.pid}-${crypto.randomBytes(6).toString('hex')}`;
  const md5Context = crypto.createHash('md5');
  let size = 0;
  try {
    await new Promise((resolve, reject) => {
      const ws = fs.createWriteStream(tmpPath);
      ws.on('error', reject).on('close', resolve);
      if (Buffer.isBuffer(object.content)) {
        md5Context.update(object.content);
        size = object.content.length;
        ws.end(object.content);
      } else {
        object.content.on('error', reject).pipe(new Transform({
          transform(chunk, enc, cb) {
            md5Context.update(chunk);
            size += chunk.length;
            cb(null, chunk);
          },
        })).pipe(ws);
      }
    });
    const md5 = md5Context.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    await fs.promises.rename(tmpPath, objectPath);
    return { size, md5 };
  } catch (err) {
    await fs.promises.unlink(tmpPath).catch(() => {});
    throw err;
  }
};

function* walkFiles(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if (err.code === 'ENOENT') return;
    throw err;
  }
  for (const name of names) {
    const p = path.posix.join(dir, name);
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) yield* walkFiles(p);
    else yield p;
  }
}

/* LIST: every key of the bucket, sorted by UTF-8 bytes as S3 does, then
 * start-after, prefix, delimiter and max-keys applied to that order. */
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  const bucketPath = this.getBucketPath(bucket);
  const suffix = '._S3rver_object';
  const all = [];
  for (const p of walkFiles(bucketPath)) {
    if (!p.endsWith(suffix) || p.includes('/._S3rver_uploads/')) continue;
    all.push(Buffer.from(p.slice(bucketPath.length + 1, -suffix.length), 'utf8'));
  }
  all.sort(Buffer.compare);
  const after = Buffer.from(startAfter, 'utf8');
  const commonPrefixes = new Set();
  const keys = [];
  let isTruncated = false;
  for (const kb of all) {
    if (startAfter && Buffer.compare(kb, after) <= 0) continue;
    const key = kb.toString('utf8');
    if (!key.startsWith(prefix)) continue;
    if (delimiter) {
      const idx = key.slice(prefix.length).indexOf(delimiter);
      if (idx !== -1) {
        commonPrefixes.add(key.slice(0, prefix.length + idx + 1));
        continue;
      }
    }
    if (keys.length < maxKeys) keys.push(key);
    else { isTruncated = true; break; }
  }
  const metas = await Promise.all(keys.map(k => this.getMetadata(bucket, k).catch(err => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  })));
  return {
    objects: keys.map((k, i) => [k, metas[i]]).filter(([, m]) => m !== undefined)
      .map(([k, m]) => new S3Object(bucket, k, null, m)),
    commonPrefixes: [...commonPrefixes].sort(),
    isTruncated,
  };
};

AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);

/* --- front end ---------------------------------------------------------- */

const stats = { requests: 0, connections: 0, failures: 0 };
let failNext = { count: 0, status: 503 };
let hangNext = 0;
const hanging = new Set();

function xmlEscape(s) {
  return String(s).replace(/[<>&'"]/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));
}

function sendError(res, status, code, message, extra, withBody) {
  const rid = crypto.randomBytes(8).toString('hex').toUpperCase();
  let body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message>`;
  for (const [k, v] of Object.entries(extra || {})) body += `<${k}>${xmlEscape(v)}</${k}>`;
  body += `<RequestId>${rid}</RequestId></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'x-amz-request-id': rid, 'Content-Length': withBody ? Buffer.byteLength(body) : 0 });
  res.end(withBody ? body : undefined);
}

function control(req, res, url) {
  const q = url.searchParams;
  if (url.pathname === '/__control/stats') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(stats));
  } else if (url.pathname === '/__control/fail') {
    failNext = { count: Number(q.get('count') || 1), status: Number(q.get('status') || 503) };
    res.writeHead(204); res.end();
  } else if (url.pathname === '/__control/hang') {
    hangNext = Number(q.get('count') || 1);
    res.writeHead(204); res.end();
  } else {
    res.writeHead(404); res.end();
  }
}

async function main() {
  const dataDir = path.join(stateDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const s3 = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: dataDir,
    configureBuckets: buckets.map(name => ({ name })),
    serviceEndpoint: 'localhost',
  });
  const backAddr = await s3.run();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const front = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname.startsWith('/__control/')) return control(req, res, url);
    stats.requests++;
    if (hangNext > 0) {
      hangNext--;
      hanging.add(req.socket);
      return; // never answered; the socket is destroyed at shutdown
    }
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headBody = req.method !== 'HEAD';
      if (failNext.count > 0) {
        failNext.count--;
        stats.failures++;
        const code = failNext.status === 503 ? 'SlowDown' : 'InternalError';
        const msg = failNext.status === 503 ? 'Please reduce your request rate.' : 'We encountered an internal error. Please try again.';
        return sendError(res, failNext.status, code, msg, {}, headBody);
      }
      // Multi-valued headers as the client sent them, for canonicalisation.
      const headers = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i].toLowerCase();
        const value = req.rawHeaders[i + 1];
        if (headers[name] === undefined) headers[name] = value;
        else headers[name] = [].concat(headers[name], value);
      }
      const raw = req.url;
      const qi = raw.indexOf('?');
      try {
        verify({
          method: req.method, path: qi < 0 ? raw : raw.slice(0, qi), query: qi < 0 ? '' : raw.slice(qi + 1),
          headers, body,
        }, AWSAccount.DUMMY_ACCOUNT.accessKeys, { region });
      } catch (e) {
        if (e instanceof S3Error) return sendError(res, e.status, e.code, e.message, e.extra, headBody);
        return sendError(res, 400, 'InvalidRequest', e.message, {}, headBody);
      }
      const fwdHeaders = { ...req.headers, 'content-length': String(body.length) };
      delete fwdHeaders['transfer-encoding'];
      delete fwdHeaders.expect;
      const up = http.request({
        host: '127.0.0.1', port: backAddr.port, method: req.method, path: req.url,
        headers: fwdHeaders, agent,
      }, upRes => {
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', err => sendError(res, 502, 'InternalError', `backend: ${err.message}`, {}, headBody));
      up.end(body);
    });
  });
  front.on('connection', () => { stats.connections++; });
  front.keepAliveTimeout = 30000;
  await new Promise((resolve, reject) => front.listen(frontPort, '127.0.0.1', err => (err ? reject(err) : resolve())).on('error', reject));
  const endpoint = `http://127.0.0.1:${front.address().port}`;
  fs.writeFileSync(path.join(stateDir, 'endpoint.tmp'), endpoint + '\n');
  fs.renameSync(path.join(stateDir, 'endpoint.tmp'), path.join(stateDir, 'endpoint'));

  const stop = () => {
    for (const s of hanging) s.destroy();
    front.close();
    front.closeAllConnections && front.closeAllConnections();
    s3.close().catch(() => {}).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch(err => {
  console.error(`s3-server: ${err.stack || err}`);
  process.exit(1);
});
