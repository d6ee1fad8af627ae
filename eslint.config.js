import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Dependencies point inward (ARCHITECTURE.md): each folder of src/ may import only the folders
 * listed before it. `store` sits below `core` and imports none of Sluice's layers.
 */
export const LAYERS = ['protocol', 'transport', 'server', 'gateway', 'store', 'core', 'api', 'cli'];
const MAY_IMPORT = {
  protocol: [],
  transport: ['protocol'],
  server: ['protocol', 'transport'],
  gateway: ['protocol', 'transport', 'server'],
  store: [],
  core: ['protocol', 'transport', 'server', 'gateway', 'store'],
  api: ['protocol', 'transport', 'server', 'gateway', 'store', 'core'],
  cli: ['protocol', 'transport', 'server', 'gateway', 'store', 'core', 'api'],
};

function layerRules() {
  return LAYERS.map((layer) => {
    const banned = LAYERS.filter((l) => l !== layer && !MAY_IMPORT[layer].includes(l));
    const patterns = banned.flatMap((l) => [`../${l}/*`, `../../${l}/*`, `../../../${l}/*`]).map((p) => ({
      group: [p],
      message: `src/${layer} may import only ${MAY_IMPORT[layer].join(', ') || 'no other layer'} (ARCHITECTURE.md, layers)`,
    }));
    // the protocol core is sans-IO: no sockets or files either
    if (layer === 'protocol') patterns.push({ group: ['node:dgram', 'node:net', 'node:fs', 'node:fs/*'], message: 'protocol/ is sans-IO' });
    return { files: [`src/${layer}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
  });
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'test-artifacts/', 'web/src/api-types.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      // The protocol core is sans-IO: no clocks, timers, randomness or sockets inside.
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'performance'],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'protocol/ is sans-IO: take `now` as input' },
        { object: 'Math', property: 'random', message: 'protocol/ is sans-IO: take randomness as input' },
        { object: 'process', property: 'hrtime', message: 'protocol/ is sans-IO: take `now` as input' }],
    },
  },
  ...layerRules(),
  {
    // the dashboard runs in the browser and knows Sluice only through the REST API (api-types.ts)
    files: ['web/src/**/*.{ts,tsx}'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['node:*', '**/src/*/**', '../../src/**'] }] },
  },
);
