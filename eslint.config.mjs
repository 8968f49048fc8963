// Flat config. Per-folder import rules encode the layout of DESIGN.md §2: what may run inside the
// workflow sandbox, what stays pure, and what stays on the Runner's side of the trust boundary.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const NODE_BUILTINS = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'crypto',
  'child_process',
  'http',
  'https',
  'net',
  'tls',
  'dns',
  'stream',
  'util',
  'worker_threads',
  'process',
  'buffer',
  'events',
  'url',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'charts/**', 'bench/results/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      // No import cycles anywhere, type-only imports included (they still tie the modules' designs together).
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
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
            {
              group: ['pg', 'express', 'pino', 'zod', '@kubernetes/*', 'node-vault'],
              message: 'Workflows import only @temporalio/workflow, common/ and activity types.',
            },
            { group: ['../activities/*', '../activities/**'], allowTypeImports: true, message: 'Workflows import activity types only.' },
            {
              group: ['../platform-api/**', '../workers/**', '../scripts/**'],
              message: 'Workflows import only @temporalio/workflow, common/ and activity types.',
            },
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
        {
          patterns: [
            {
              group: ['../workflows/**', '../activities/**', '../platform/**', '../platform-api/**', '../workers/**', '../scripts/**'],
              message: 'common/ is pure and imports nothing from the other folders.',
            },
          ],
        },
      ],
    },
  },
  {
    // The customer side of the trust boundary: the Runner, its checks and the codec server it may host.
    files: ['activities/runner/**/*.ts', 'workers/runner.ts', 'workers/codec-server.ts', 'workers/temporal-runtime.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['pg', '**/platform/**', '**/platform-api/**', '**/activities/platform/**', '**/workflows/**', '**/platform-worker'],
              message: 'Runner-side code never imports Platform code (DESIGN.md §1).',
            },
          ],
        },
      ],
    },
  },
  {
    // The Platform's data layer, shared by the API and the platform worker: below both of them.
    files: ['platform/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/platform-api/**', '**/workers/**', '**/activities/**', '**/workflows/**', '**/scripts/**', '**/bench/**'],
              message: 'platform/ is the data layer: it imports only common/ and itself.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/platform/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/platform-api/**', '**/workers/**', '**/activities/runner/**'],
              message: 'Platform activities use platform/ and common/, never the API or a process entry point.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['platform-api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/workers/**', '**/activities/**'], message: 'The API never imports process entry points or activities.' },
            {
              group: ['**/workflows', '**/workflows/**'],
              allowTypeImports: true,
              message: 'The API starts workflows by name and imports their types only.',
            },
          ],
        },
      ],
    },
  },
  {
    // The web console runs in the browser: it reaches the Platform through its HTTP API only.
    files: ['platform-api/console/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: NODE_BUILTINS, message: 'The console runs in the browser: no Node built-ins.' },
            {
              group: [
                '**/platform-api/*',
                '!**/platform-api/console',
                '**/platform/**',
                '!**/platform/permissions',
                '**/workflows/**',
                '**/activities/**',
                '**/workers/**',
                'pg',
                'express',
                'zod',
                '@temporalio/*',
              ],
              message: 'The console talks to the API over HTTP; it bundles only pure tables (platform/permissions, common/ids).',
            },
          ],
        },
      ],
    },
  },
  {
    // Routers are the HTTP edge: they call services, never repositories or the database.
    files: ['platform-api/routes/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['pg', '**/platform/**'],
              allowTypeImports: true,
              message: 'Routers import services only (types of the data layer may be named).',
            },
          ],
        },
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
