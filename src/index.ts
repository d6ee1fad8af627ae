export * from './protocol/index.js';
export * from './transport/index.js';
