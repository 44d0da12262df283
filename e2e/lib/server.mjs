// Starts the Tsunagu binary for the browser tests: a free port on 127.0.0.1, a fresh temp data
// folder, the demo region, and SQLite in that folder or PostgreSQL. With PostgreSQL, every server
// (one per test file) gets a fresh database of its own, created next to the one given in
// TSUNAGU_E2E_DATABASE_URL (the demo region loads only into an empty database) with `psql`
// (TSUNAGU_E2E_PSQL, default psql on the PATH) and dropped when the server stops; the role of
// that URL must be allowed to create databases.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEMO_PASSWORD = 'demo-password-123';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

/** TSUNAGU_BIN, else $CARGO_TARGET_DIR/debug/tsunagu, else <repo>/target/debug/tsunagu. */
export function binaryPath() {
  if (process.env.TSUNAGU_BIN) return path.resolve(process.env.TSUNAGU_BIN);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR)
    : path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'tsunagu');
}

/** Which backend this run uses, for names of screenshots and messages. */
export function backendName() {
  return process.env.TSUNAGU_E2E_DATABASE_URL ? 'postgres' : 'sqlite';
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function psql(url, sql) {
  const r = spawnSync(process.env.TSUNAGU_E2E_PSQL || 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error || r.status !== 0) {
    throw new Error(`psql ${sql}: ${r.error?.message ?? ''}${r.stderr ?? ''}`);
  }
}

/** A fresh, empty database next to the one `url` names: { url, drop() }. */
function freshDatabase(url) {
  const base = new URL(url);
  const name = `${decodeURIComponent(base.pathname.slice(1)) || 'tsunagu'}_${process.pid}_${Date.now() % 1e8}`.replace(/[^\w]/g, '_');
  psql(url, `create database "${name}"`);
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  return {
    url: fresh.toString(),
    drop: () => {
      try {
        psql(url, `drop database if exists "${name}" with (force)`);
      } catch (e) {
        process.stderr.write(`could not drop the test database ${name}: ${e.message}\n`);
      }
    },
  };
}

/** Every running server, so that whatever ends this process ends them too. */
const running = new Set();
function killAllNow() {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllNow();
    process.exit(128 + (os.constants.signals[sig] ?? 0));
  });
}

/**
 * Starts the server and waits for /healthz. Returns { baseUrl (its public address), loopbackUrl,
 * backend, stop(), logTail() }.
 * stop() is idempotent: SIGTERM, then SIGKILL after 10 s, then removes the data folder.
 */
export async function startServer() {
  const bin = binaryPath();
  if (!fs.existsSync(bin)) {
    throw new Error(
      `the server binary ${bin} does not exist: build it with \`cargo build -p tsunagu\` ` +
        '(or set TSUNAGU_BIN / CARGO_TARGET_DIR)',
    );
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsunagu-e2e-'));
  const logFile = path.join(dataDir, 'server.log');
  const backend = backendName();

  // The server reads every TSUNAGU_* variable as a setting and refuses unknown ones
  // (TSUNAGU_BIN, TSUNAGU_E2E_DATABASE_URL, TSUNAGU_CI_TARGET …): pass only ours.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TSUNAGU_') || k === 'TSUNAGU_LOG') env[k] = v;
  }
  env.TSUNAGU_DATA_DIR = dataDir;
  env.TSUNAGU_DEMO_PASSWORD = DEMO_PASSWORD;
  // No background map tiles: nothing in the tests may depend on a remote server.
  env.TSUNAGU_MAP__TILE_URL = '';
  let database = null;
  if (process.env.TSUNAGU_E2E_DATABASE_URL) {
    database = freshDatabase(process.env.TSUNAGU_E2E_DATABASE_URL);
    env.TSUNAGU_DATABASE_URL = database.url;
  }
  const dropDatabase = () => {
    database?.drop();
    database = null;
  };

  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const log = fs.openSync(logFile, 'a');
    const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`], {
      cwd: dataDir,
      env,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    running.add(child);
    let exited = null;
    const exitedPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        running.delete(child);
        resolve(exited);
      });
      child.on('error', (e) => {
        exited = { code: null, signal: null, error: e };
        running.delete(child);
        resolve(exited);
      });
    });
    const loopbackUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 180_000;
    let healthy = false;
    while (!exited && Date.now() < deadline) {
      try {
        const r = await fetch(`${loopbackUrl}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (r.ok) {
          healthy = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    const logTail = (lines = 40) =>
      fs.existsSync(logFile)
        ? fs.readFileSync(logFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(-lines).join('\n')
        : '';
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitedPromise;
        clearTimeout(t);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      dropDatabase();
    };
    if (healthy) {
      const text = fs.readFileSync(logFile, 'utf8');
      if (!text.includes('Demo region')) {
        await stop();
        throw new Error(
          `the server did not load the demo region (is the database ${backend === 'postgres' ? 'given in TSUNAGU_E2E_DATABASE_URL ' : ''}empty?); its log:\n${text}`,
        );
      }
      // Browse at the server's public address: on a loopback listener that is
      // http://localhost:PORT (browsers allow passkeys for a name, not for an IP address), and
      // invitation links point there too.
      return { baseUrl: `http://localhost:${port}`, loopbackUrl, backend, bin, stop, logTail, dataDir };
    }
    if (!exited) {
      // Never became healthy: do not leave it behind.
      child.kill('SIGKILL');
      await exitedPromise;
      lastError = `${bin} did not answer /healthz within 180 s; its log:\n${logTail()}`;
      fs.rmSync(dataDir, { recursive: true, force: true });
      dropDatabase();
      throw new Error(lastError);
    }
    lastError = `${bin} exited (${JSON.stringify(exited)}) before answering /healthz; its log:\n${logTail()}`;
    // The free port may have been taken in between: try again with another one.
    await sleep(500);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  dropDatabase();
  throw new Error(lastError);
}
