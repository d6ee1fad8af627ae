// The committed OpenAPI document (docs/openapi.json) is what the code generates: no drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../../src/cli/openapi.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const committedPath = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));

interface Op { security?: unknown[]; responses?: Record<string, unknown>; summary?: string }

test('docs/openapi.json matches the routes (regenerate with `npm run openapi`)', async () => {
  const generated = JSON.parse(JSON.stringify(await openApiDocument())) as { openapi: string; paths: Record<string, Record<string, Op>> };
  const committed = JSON.parse(readFileSync(committedPath, 'utf8')) as unknown;
  assert.match(generated.openapi, /^3\./);
  const gp = Object.keys(generated.paths).sort();
  const cp = Object.keys((committed as { paths: Record<string, unknown> }).paths).sort();
  assert.deepEqual(gp.filter((p) => !cp.includes(p)), [], 'routes missing from docs/openapi.json: run `npm run openapi`');
  assert.deepEqual(cp.filter((p) => !gp.includes(p)), [], 'docs/openapi.json lists routes that no longer exist: run `npm run openapi`');
  assert.deepEqual(generated, committed, 'docs/openapi.json is out of date: run `npm run openapi`');
});

test('every protected operation documents 401, every operation documents a success response', async () => {
  const doc = (await openApiDocument()) as unknown as { paths: Record<string, Record<string, Op>> };
  const problems: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const codes = Object.keys(op.responses ?? {});
      if (!codes.some((c) => /^(2\d\d|101)$/.test(c))) problems.push(`${method.toUpperCase()} ${path}: no 2xx response`);
      const open = Array.isArray(op.security) && op.security.length === 0;
      if (!open && path !== '/metrics' && !codes.includes('401')) problems.push(`${method.toUpperCase()} ${path}: protected but no 401 documented`);
    }
  }
  assert.deepEqual(problems, []);
});
