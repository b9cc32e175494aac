// graphql-js against saaskit: the example operations validate against schema.graphql, and the
// schema a client builds from the live server's introspection is schema.graphql.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  parse,
  printSchema,
  validate,
} from 'graphql';

import {
  ROOT, gql, operation, operationFiles, pendingOperations, staffToken, startSaaskit,
} from './server.mjs';

const sdl = readFileSync(join(ROOT, 'schema.graphql'), 'utf8');
const schema = buildSchema(sdl);
const pending = new Set(pendingOperations());

test('every pending operation names an existing file', () => {
  const files = new Set(operationFiles());
  for (const name of pending) assert.ok(files.has(name), `${name} is not in examples/operations`);
});

for (const file of operationFiles()) {
  const name = file.replace(/\.graphql$/, '');
  test(`example operation ${file} is one named operation that validates`, (t) => {
    const document = parse(operation(name));
    const operations = document.definitions.filter((d) => d.kind === 'OperationDefinition');
    assert.equal(operations.length, 1, 'one operation per file');
    assert.equal(operations[0].name?.value, name, 'named as its file');
    const errors = validate(schema, document);
    if (pending.has(file)) {
      if (errors.length === 0) {
        t.diagnostic(`${file} validates now: remove it from pending-operations.txt`);
      }
      t.skip('pending: its feature is being built on another branch');
      return;
    }
    assert.deepEqual(errors.map((e) => e.message), []);
  });
}

let server;
before(async () => {
  server = await startSaaskit();
});
after(async () => {
  await server?.stop();
});

test('the schema built from live introspection is schema.graphql', async () => {
  const token = await staffToken(server);
  const body = await gql(server, getIntrospectionQuery(), {}, token);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const live = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
  const committed = printSchema(lexicographicSortSchema(schema));
  assert.equal(live, committed);
});

test('production refuses introspection without a staff token', async () => {
  const body = await gql(server, getIntrospectionQuery());
  assert.equal(body.data ?? null, null);
  assert.equal(body.errors[0].extensions.code, 'FORBIDDEN');
});
