// Starts a saaskit of its own for a test file: the built binary (SAASKIT_BIN, else
// target/debug/saaskit), production mode, a free port, a temporary SQLite database, a root key
// from `saaskit keygen` and a bootstrap staff user. `stop()` ends it and fails on a panic in
// its log.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STAFF = { email: 'staff@example.com', password: 'staff password 1' };

const BIN = process.env.SAASKIT_BIN ?? join(ROOT, 'target', 'debug', 'saaskit');

/** The example operation `name` (examples/operations/<name>.graphql). */
export function operation(name) {
  return readFileSync(join(ROOT, 'examples', 'operations', `${name}.graphql`), 'utf8');
}

/** Every example operation's file name. */
export function operationFiles() {
  return readdirSync(join(ROOT, 'examples', 'operations'))
    .filter((file) => file.endsWith('.graphql'))
    .sort();
}

/** The file names listed in pending-operations.txt. */
export function pendingOperations() {
  return readFileSync(join(ROOT, 'tests', 'js', 'pending-operations.txt'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

export async function startSaaskit({ env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'saaskit-js-'));
  const rootKey = execFileSync(BIN, ['keygen'], { encoding: 'utf8' }).trim();
  const logPath = join(dir, 'server.log');
  const log = createWriteStream(logPath);
  const child = spawn(BIN, ['serve'], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${join(dir, 'saaskit.db')}?mode=rwc`,
      SAASKIT_ENV: 'production',
      SAASKIT_BIND: '127.0.0.1:0',
      SAASKIT_ROOT_KEY: rootKey,
      SAASKIT_MAIL_DIR: join(dir, 'mail-outbox'),
      SAASKIT_BOOTSTRAP_STAFF_EMAIL: STAFF.email,
      SAASKIT_BOOTSTRAP_STAFF_PASSWORD: STAFF.password,
      SAASKIT_AUTH_ATTEMPTS_PER_MINUTE: '1000',
      SAASKIT_HTTP_WORKERS: '2',
      SAASKIT_LOG_FORMAT: 'compact',
      RUST_LOG: 'info,sqlx=warn,sea_orm=warn',
      ...env,
    },
  });
  child.stdout.pipe(log, { end: false });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`saaskit did not start:\n${seen}`)), 60_000);
    child.stderr.on('data', (chunk) => {
      log.write(chunk);
      if (seen === null) return;
      seen += chunk.toString();
      const match = seen.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (match) {
        clearTimeout(timer);
        seen = null;
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`saaskit exited with ${code}:\n${seen}`));
    });
  });
  return {
    url,
    graphqlUrl: `${url}/graphql`,
    logPath,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await new Promise((resolve) => log.end(resolve));
      const text = readFileSync(logPath, 'utf8');
      rmSync(dir, { recursive: true, force: true });
      if (/panicked/.test(text)) {
        throw new Error(`saaskit panicked:\n${text}`);
      }
      return text;
    },
  };
}

/** A plain POST /graphql, for set-up steps. */
export async function gql(server, query, variables = {}, token) {
  const response = await fetch(server.graphqlUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** A staff session token. */
export async function staffToken(server) {
  const body = await gql(server, operation('LogIn'), { input: STAFF });
  if (!body.data) throw new Error(`staff login failed: ${JSON.stringify(body)}`);
  return body.data.login.token;
}

/** Signs up a business; returns the owner's token. */
export async function signUp(server, email, businessName) {
  const body = await gql(server, operation('SignUp'), {
    input: { email, password: 'correct horse battery', name: 'Owner', businessName },
  });
  if (!body.data) throw new Error(`sign-up failed: ${JSON.stringify(body)}`);
  return body.data.signup.token;
}
