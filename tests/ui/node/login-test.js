// login-test.js — the UI's login flow in real headless Chromium, on a
// pgopipe-server bound to this machine's own non-loopback address with an
// auth token (as a container does with 0.0.0.0):
//   the page sends a browser to the login form; its JSON needs the token
//   while downloads stay open; a wrong token is refused on the page; the
//   right one sets an HttpOnly, SameSite=Strict session cookie that is not
//   the token and that scripts cannot read; the UI works; logging out ends
//   it. Then, with --protect-reads, the downloads need the login too while
//   health, readiness and metrics stay open.
// One browser launch. Environment: SERVER, PGOPIPE, PROFILES (the Go profile
// corpus), SL_PROFILES (its CPU profiles with start lines), ARTIFACTS.
'use strict';

const H = require('./harness');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const { check, checkEq, step } = H;
const TOKEN = 'ui-login-token-5d2e0b7a';

function ownAddress() {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list || []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

async function main() {
  const E = H.env(['SERVER', 'PGOPIPE', 'PROFILES', 'SL_PROFILES', 'ARTIFACTS']);
  fs.mkdirSync(E.ARTIFACTS, { recursive: true });
  const addr = ownAddress();
  if (!check(addr, 'this machine has a non-loopback IPv4 address to bind (ui.login needs one)')) return H.done('ui.login');
  const work = H.tmpdir('pgopipe-ui-login-');
  const data = path.join(work, 'data');
  const tokenFile = path.join(work, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`);
  const common = ['--blob-store-url', `file://${data}`, '--event-writer-url', 'mem://profiles', '--worker', '--auth-token-file', tokenFile];
  const b = await H.browser(work, { width: 1280, height: 800 });
  let srv = null;
  try {
    srv = await H.startServer(E.SERVER, common, work, 'remote', {}, addr);
    await remote(E, srv, b, tokenFile);
    await srv.stop();
    srv = await H.startServer(E.SERVER, [...common, '--protect-reads'], work, 'protect', {}, addr);
    await protectReads(srv, b);
  } finally {
    await b.close();
    if (srv) await srv.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  return H.done('ui.login');
}

async function remote(E, srv, b, tokenFile) {
  const url = srv.url;
  const page = b.page;
  step(`server on ${url} with a token`);
  execFileSync(E.PGOPIPE, ['upload', '-u', url, '--auth-token-file', tokenFile, '-a', 'web-api', path.join(E.SL_PROFILES, 'cpu/regexp.pb.gz')], { stdio: 'pipe' });
  await H.waitFor200(`${url}/api/profile/web-api`);

  step('the page asks for the token');
  await page.goto(`${url}/`);
  await page.waitForSelector('form.card');
  checkEq(new URL(page.url()).pathname, '/ui/login', 'a browser is sent to the login page');
  checkEq(await page.title(), 'Log in · pgopipe', 'login page title');
  check(await page.isHidden('#login-error'), 'no error before trying');
  let r = await page.request.get(`${url}/api/ui/apps`);
  checkEq(r.status(), 401, 'the UI JSON needs the token');
  checkEq(r.headers()['www-authenticate'], 'Bearer', 'WWW-Authenticate: Bearer');
  r = await page.request.get(`${url}/api/profile/web-api`);
  checkEq(r.status(), 200, 'downloads stay open without --protect-reads (autopgo clients)');
  for (const p of ['/api/health', '/api/ready', '/metrics']) checkEq((await page.request.get(`${url}${p}`)).status(), 200, `${p} open`);
  await page.screenshot({ path: path.join(process.env.ARTIFACTS, 'login.png') });

  step('a wrong token');
  await page.fill('#token', 'not-the-token');
  await Promise.all([page.waitForURL(/\/ui\/login\?failed=1$/), page.click('button[type=submit]')]);
  await page.waitForSelector('#login-error:not([hidden])');
  check((await page.textContent('#login-error')).includes("not this server's token"), 'the page says so');
  checkEq((await b.ctx.cookies()).length, 0, 'no cookie for a wrong token');

  step('the right token');
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForURL(/\/ui\/(#.*)?$/), page.click('button[type=submit]')]);
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  const cookies = await b.ctx.cookies();
  checkEq(cookies.length, 1, 'one cookie');
  const c = cookies[0] || {};
  checkEq(c.name, 'pgopipe_session', 'cookie name');
  checkEq(c.httpOnly, true, 'HttpOnly');
  checkEq(c.sameSite, 'Strict', 'SameSite=Strict');
  checkEq(c.secure, false, 'not Secure over plain HTTP');
  checkEq(c.path, '/', 'Path=/');
  check(c.value && !c.value.includes(TOKEN), 'the cookie is not the token');
  check(c.expires > Date.now() / 1000 + 11 * 3600 && c.expires < Date.now() / 1000 + 13 * 3600, `expires in 12 hours: ${c.expires}`);
  checkEq(await page.evaluate(() => document.cookie), '', 'scripts cannot read it');
  check(await page.isVisible('#logout'), 'a logout button');
  checkEq((await page.request.get(`${url}/api/ui/apps`)).status(), 200, 'the UI JSON with the cookie');
  const fr = await H.frames(page);
  check(fr.length > 5 && fr[0].name === 'all', `the flame graph is drawn: ${fr.length} frames`);
  await page.screenshot({ path: path.join(process.env.ARTIFACTS, 'logged-in.png') });

  step('bearer tokens, TLS proxies, other origins');
  r = await fetch(`${url}/api/ui/apps`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  checkEq(r.status, 200, 'bearer token');
  r = await fetch(`${url}/api/ui/apps`, { headers: { Authorization: 'Bearer nope' } });
  checkEq(r.status, 401, 'wrong bearer token');
  const forged = `${c.value.slice(0, -1)}${c.value.endsWith('0') ? '1' : '0'}`;
  r = await fetch(`${url}/api/ui/apps`, { headers: { Cookie: `pgopipe_session=${forged}` } });
  checkEq(r.status, 401, 'a forged cookie');
  r = await fetch(`${url}/api/ui/apps`, { headers: { Cookie: `pgopipe_session=${c.value}` } });
  checkEq(r.status, 200, 'the cookie from another client');
  r = await fetch(`${url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forwarded-Proto': 'https' },
    body: `token=${encodeURIComponent(TOKEN)}`,
  });
  checkEq(r.status, 303, 'login behind a TLS proxy');
  check((r.headers.get('set-cookie') || '').includes('; Secure'), `Secure behind a TLS proxy: ${r.headers.get('set-cookie')}`);
  r = await fetch(`${url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://evil.example' },
    body: `token=${encodeURIComponent(TOKEN)}`,
  });
  checkEq(r.status, 403, 'a login posted from another site');

  step('log out');
  await Promise.all([page.waitForURL(/\/ui\/login$/), page.click('#logout button')]);
  checkEq((await b.ctx.cookies()).length, 0, 'the cookie is gone');
  checkEq((await page.request.get(`${url}/api/ui/apps`)).status(), 401, 'the UI JSON needs the token again');
  await page.goto(`${url}/ui/`);
  checkEq(new URL(page.url()).pathname, '/ui/login', 'back to the login page');
  check(b.problems.length === 0, `console: ${b.problems.join('\n  ')}`);
  const outside = b.requests.filter((u) => !u.startsWith(`${url}/`));
  check(outside.length === 0, `requests outside ${url}: ${outside.join(', ')}`);
}

async function protectReads(srv, b) {
  const url = srv.url;
  const page = b.page;
  b.requests.length = 0;
  step(`--protect-reads on ${url}`);
  await H.waitFor200(`${url}/api/profile/web-api`, { Authorization: `Bearer ${TOKEN}` });
  for (const p of ['/api/profile/web-api', '/api/profile', '/api/ui/apps']) checkEq((await fetch(`${url}${p}`)).status, 401, `${p} needs the token`);
  for (const p of ['/api/health', '/api/ready', '/metrics']) checkEq((await fetch(`${url}${p}`)).status, 200, `${p} stays open`);
  await page.goto(`${url}/ui/`);
  await page.waitForSelector('form.card');
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForURL(/\/ui\/(#.*)?$/), page.click('button[type=submit]')]);
  await H.waitView(page, 'web-api|cpu|cpu|0.001||');
  await page.click('#downloads summary');
  const links = await page.$$eval('#download-links a', (as) => as.map((a) => a.href));
  checkEq(links.length, 6, 'download links');
  for (const l of links) checkEq((await page.request.get(l)).status(), 200, `${l} with the login cookie`);
  checkEq((await fetch(links[0])).status, 401, 'the same link without it');
  check(b.problems.length === 0, `console: ${b.problems.join('\n  ')}`);
  const outside = b.requests.filter((u) => !u.startsWith(`${url}/`));
  check(outside.length === 0, `requests outside ${url}: ${outside.join(', ')}`);
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    console.error(e);
    H.done('ui.login');
    process.exit(1);
  },
);
