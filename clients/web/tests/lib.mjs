// Shared helpers for the browser tests: configuration from the environment, launching
// Debian's Chromium through playwright-core, creating verified accounts through the REST
// API and the e-mailed link, reading e-mails from the server's outbox folder (decoding
// quoted-printable), waiting for conditions with a timeout (never sleeping), screenshots,
// and a runner that reports a failure clearly and exits non-zero.

import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {chromium} from 'playwright-core';

export const BASE = (process.env.SALON_URL || 'http://127.0.0.1:18080').replace(/\/$/, '');
/** A second node of the same cluster, if any: some tests open a second browser there. */
export const BASE_2 = (process.env.SALON_URL_2 || BASE).replace(/\/$/, '');
export const OUTBOX = process.env.SALON_OUTBOX || '';
export const ARTIFACTS = process.env.SALON_ARTIFACTS || path.resolve('artifacts');
export const PASSWORD = 'correct horse battery';
const RUN = `${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;

if (!OUTBOX) {
  console.error('SALON_OUTBOX must name the folder the server writes its .eml files to.');
  process.exit(2);
}
fs.mkdirSync(ARTIFACTS, {recursive: true});

/** A fresh address for this run: `tag` keeps it readable in logs and screenshots. */
let counter = 0;
export function uniqueEmail(tag) {
  counter += 1;
  return `${tag}-${RUN}-${counter}@example.test`;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A browser context whose page errors make the test fail (CSP violations included). */
export async function newPage(browser, {width = 1280, height = 800, label = 'page', base = BASE} = {}) {
  const context = await browser.newContext({viewport: {width, height}, baseURL: base});
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(`${label}: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(text)) page.errors.push(`${label}: ${text}`);
  });
  page.label = label;
  return {context, page};
}

// ---------------------------------------------------------------- REST

export async function api(pathname, {method = 'GET', body, token, contentType} = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = contentType || 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}/api/v1${pathname}`, {method, headers, body: body === undefined ? undefined : (contentType ? body : JSON.stringify(body))});
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) {
    const hint = r.status === 429 ? ' (the server rate-limits sign-ups and log-ins per address: for repeated test runs start it with SALON_AUTH_ATTEMPTS_PER_ADDRESS=100000)' : '';
    const err = new Error(`${method} ${pathname} answered ${r.status}: ${text}${hint}`);
    err.status = r.status;
    err.body = data;
    throw err;
  }
  return data;
}

/** Same as `api` but resolves to {status, body} instead of throwing. */
export async function apiRaw(pathname, opts = {}) {
  try {
    return {status: 200, body: await api(pathname, opts)};
  } catch (e) {
    if (e.status) return {status: e.status, body: e.body};
    throw e;
  }
}

// ---------------------------------------------------------------- e-mail

export function decodeQuotedPrintable(text) {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes = [];
  for (let i = 0; i < soft.length; i += 1) {
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseEml(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const head = raw.slice(0, split);
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  const qp = /quoted-printable/i.test(headers['content-transfer-encoding'] || '');
  return {headers, subject: headers.subject || '', to: headers.to || '', body: qp ? decodeQuotedPrintable(body) : body};
}

/** The newest e-mail to `address` (optionally matching `subject`), waiting up to `timeout` ms. */
export async function waitForMail(address, {subject, timeout = 15000, after = 0} = {}) {
  return waitFor(() => {
    let best = null;
    for (const name of fs.readdirSync(OUTBOX)) {
      if (!name.endsWith('.eml')) continue;
      const file = path.join(OUTBOX, name);
      const stat = fs.statSync(file);
      if (stat.mtimeMs < after) continue;
      const raw = fs.readFileSync(file, 'utf8');
      const to = (raw.match(/^To:\s*(.*)$/mi) || [])[1] || '';
      if (!to.toLowerCase().includes(address.toLowerCase())) continue;
      const mail = parseEml(raw);
      if (subject && !subject.test(mail.subject)) continue;
      if (!best || stat.mtimeMs >= best.mtime) best = {...mail, mtime: stat.mtimeMs, file};
    }
    return best;
  }, {timeout, what: `an e-mail to ${address}${subject ? ` (${subject})` : ''} in ${OUTBOX}`});
}

/** The first link in `mail` whose path starts with `prefix` (e.g. '/invite#token='). */
export function linkIn(mail, prefix) {
  const re = new RegExp(`https?://[^\\s"<>]*${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\s"<>]*`);
  const m = mail.body.match(re);
  if (!m) throw new Error(`no link starting with ${prefix} in the e-mail "${mail.subject}":\n${mail.body}`);
  // Follow the link on the server under test whatever host the e-mail names.
  const url = new URL(m[0]);
  return `${BASE}${url.pathname}${url.search}${url.hash}`;
}

// ---------------------------------------------------------------- accounts

/** Signs up through the API, follows the e-mailed verification token, returns the session. */
export async function createAccount(name, tag = name.toLowerCase()) {
  const email = uniqueEmail(tag);
  const started = Date.now() - 1000;
  await api('/auth/signup', {method: 'POST', body: {email, password: PASSWORD, display_name: name}});
  const mail = await waitForMail(email, {after: started});
  const link = linkIn(mail, '/verify#token=');
  const token = new URL(link).hash.replace(/^#token=/, '');
  const session = await api('/auth/verify', {method: 'POST', body: {token}});
  return {name, email, password: PASSWORD, token: session.token, id: session.account.id};
}

/** Logs `account` in through the log-in screen and waits for the conversation list. */
export async function login(page, account, fragment = '') {
  await page.goto(`/${fragment || '#/login'}`);
  await page.getByLabel('E-mail address').fill(account.email);
  await page.getByLabel('Password', {exact: true}).fill(account.password);
  await page.getByRole('button', {name: 'Log in'}).click();
  await page.getByRole('navigation', {name: 'Conversations'}).waitFor({timeout: 15000});
}

/**
 * Opens the app at `fragment` already signed in as `account` (the session from
 * createAccount), without going through the log-in screen.
 */
export async function openAs(page, account, fragment = '#/') {
  await page.goto('/#/login');
  await page.evaluate(([token, hash]) => {
    localStorage.setItem('salon.session', token);
    history.replaceState(null, '', `/${hash}`);
  }, [account.token, fragment]);
  await page.reload();
  await page.getByRole('navigation', {name: 'Conversations'}).waitFor({timeout: 15000});
}

// ---------------------------------------------------------------- waiting and checking

/** Polls `fn` until it returns a truthy value (resolved with it) or `timeout` ms pass. */
export async function waitFor(fn, {timeout = 10000, interval = 100, what = 'a condition'} = {}) {
  const deadline = Date.now() + timeout;
  let lastError = null;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({path: file});
  return file;
}

/** Runs a test: a clear message and exit code 1 on failure, screenshots of open pages. */
export async function run(name, body) {
  const started = Date.now();
  const browser = await launch();
  const pages = [];
  const track = (page) => { pages.push(page); return page; };
  let failed = null;
  try {
    await body({browser, track});
    for (const p of pages) check(!p.errors.length, `page errors: ${p.errors.join('; ')}`);
  } catch (e) {
    failed = e;
  }
  if (failed) {
    for (const p of pages) {
      try { await screenshot(p, `FAILED-${name}-${p.label}`); } catch { /* closed */ }
    }
  }
  await browser.close().catch(() => {});
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (failed) {
    console.error(`FAIL ${name} (${secs} s): ${failed.stack || failed.message}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`ok ${name} (${secs} s)`);
  console.log('1 passed, 0 failed');
  process.exit(0);
}
