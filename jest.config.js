/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' }, module: { type: 'commonjs' } }],
  },
  // Sources import their lazily loaded modules as `./x.js` (what Node resolves after tsc); here they are `./x.ts`.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  // One test file at a time: the machine has two cores and the services share them.
  maxWorkers: 1,
  testTimeout: 120_000,
  // The Temporal SDK's native runtime keeps a handle open after the last test (TEMPORAL-NOTES.md).
  forceExit: true,
};
