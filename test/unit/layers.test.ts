// The layer boundaries of ARCHITECTURE.md are enforced by ESLint (eslint.config.js): an import
// that points outward is an error in every layer, and the allowed ones pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function importErrors(file: string, spec: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [r] = await eslint.lintText(`import * as m from '${spec}';\nexport const x = m;\n`, { filePath: `${ROOT}${file}` });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const outward: [string, string][] = [
  ['src/protocol/x.ts', '../transport/mux.js'],
  ['src/protocol/x.ts', 'node:dgram'],
  ['src/transport/x.ts', '../server/server.js'],
  ['src/server/x.ts', '../gateway/routes.js'],
  ['src/server/x.ts', '../core/servers.js'],
  ['src/gateway/x.ts', '../core/routes.js'],
  ['src/store/x.ts', '../core/servers.js'],
  ['src/store/x.ts', '../server/server.js'],
  ['src/core/x.ts', '../api/app.js'],
  ['src/api/routes/x.ts', '../../cli/serve.js'],
  ['src/api/x.ts', '../cli/serve.js'],
];
const inward: [string, string][] = [
  ['src/transport/x.ts', '../protocol/packet.js'],
  ['src/gateway/x.ts', '../server/server.js'],
  ['src/core/x.ts', '../store/db.js'],
  ['src/api/routes/x.ts', '../../core/servers.js'],
  ['src/cli/x.ts', '../api/app.js'],
];

test('imports that point outward are lint errors; inward ones are not', { timeout: 120_000 }, async () => {
  for (const [file, spec] of outward) {
    const errs = await importErrors(file, spec);
    assert.equal(errs.length, 1, `${file} importing ${spec} must be refused`);
  }
  for (const [file, spec] of inward) {
    assert.deepEqual(await importErrors(file, spec), [], `${file} may import ${spec}`);
  }
});
