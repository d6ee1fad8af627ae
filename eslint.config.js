import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
      'no-restricted-imports': ['error', { patterns: ['node:dgram', 'node:net', 'node:fs', '../transport/*', '../gateway/*', '../server/*', '../cli/*'] }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'protocol/ is sans-IO: take `now` as input' },
        { object: 'Math', property: 'random', message: 'protocol/ is sans-IO: take randomness as input' },
        { object: 'process', property: 'hrtime', message: 'protocol/ is sans-IO: take `now` as input' }],
    },
  },
  {
    // dependencies point inward: protocol <- transport <- server/gateway <- core <- api/store <- cli
    files: ['src/transport/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../gateway/*', '../server/*', '../core/*', '../api/*', '../store/*', '../cli/*'] }] },
  },
  {
    files: ['src/gateway/**/*.ts', 'src/server/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['../core/*', '../api/*', '../store/*', '../cli/*'] }] },
  },
  {
    // the dashboard runs in the browser and knows Sluice only through the REST API (api-types.ts)
    files: ['web/src/**/*.{ts,tsx}'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['node:*', '**/src/*/**', '../../src/**'] }] },
  },
);
