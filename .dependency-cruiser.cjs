/**
 * The import graph as a fact, type-only imports included (ESLint's import-x/no-cycle skips those):
 * no cycles anywhere. The layering rules live in eslint.config.mjs; this checks what ESLint cannot.
 * Run by `npm run lint`.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules form a graph without cycles, type-only imports included.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.json'] },
  },
};
