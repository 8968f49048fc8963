// Flat config. Per-folder import rules encode the layout of DESIGN.md §2: what may run inside the
// workflow sandbox, what stays pure, and what stays on the Runner's side of the trust boundary.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['node:*', 'fs', 'fs/*', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'tls', 'dns', 'stream', 'util', 'worker_threads', 'process', 'buffer', 'events', 'url'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'charts/**', 'bench/results/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      'no-console': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'Workflows run in the deterministic sandbox: no Node built-ins.' },
            { group: ['@temporalio/*', '!@temporalio/workflow'], message: 'Workflows import only @temporalio/workflow.' },
            { group: ['pg', 'express', 'pino', 'zod', '@kubernetes/*', 'node-vault'], message: 'Workflows import only @temporalio/workflow, common/ and activity types.' },
            { group: ['../activities/*', '../activities/**'], allowTypeImports: true, message: 'Workflows import activity types only.' },
            { group: ['../platform-api/**', '../workers/**', '../scripts/**'], message: 'Workflows import only @temporalio/workflow, common/ and activity types.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'process', 'require', 'Buffer', 'setImmediate', 'console'],
    },
  },
  {
    files: ['common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../workflows/**', '../activities/**', '../platform-api/**', '../workers/**', '../scripts/**'], message: 'common/ is pure and imports nothing from the other folders.' }] },
      ],
    },
  },
  {
    files: ['activities/runner/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['pg', '**/platform-api/**', '**/activities/platform/**'], message: 'Runner code never reaches the Platform database.' }] },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Tests walk untyped documents (rendered YAML, raw histories).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
