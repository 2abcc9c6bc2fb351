// Jest runs in ESM mode (@kubernetes/client-node 2.x is ESM-only). TypeScript is stripped by
// Node's own stripTypeScriptTypes (test/strip-types-transform.cjs): no type checking here,
// `npm run typecheck` does that.
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: { '^.+\\.ts$': '<rootDir>/test/strip-types-transform.cjs' },
  testMatch: ['<rootDir>/{controller,router,routetable,lib,conformance,hack,test}/**/*.test.ts'],
  testTimeout: 60000,
  // Names what keeps jest alive after its last suite, if anything does (test/open-handles.ts).
  globalTeardown: '<rootDir>/test/open-handles.ts',
  // Not the default (the system temp directory): a test run leaves nothing there.
  cacheDirectory: '<rootDir>/node_modules/.cache/jest',
};
