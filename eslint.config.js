import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** A lint rule refusing imports from `folders` in `files`. */
function restrictImports(files, folders) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: folders.map((folder) => ({
            group: [`**/${folder}/**`, `${folder}/**`],
            message: `${files.join(', ')} must not import ${folder}/ (see eslint.config.js: boundaries)`,
          })),
        },
      ],
    },
  };
}

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'scratch/**',
      'bin/zkfl.js',
      'common/fork-boot.mjs',
      '.zkfl/**',
      'test/count-reporter.cjs',
      '.mocharc.cjs',
      'eslint.config.js',
      'hardhat.config.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-unused-expressions': 'off' } },
  // Boundaries: the auditor and the client never reach into the server; the wire, the math and the chain access
  // know no server, client or auditor.
  restrictImports(['verifier/**/*.ts', 'client/**/*.ts'], ['coordinator']),
  restrictImports(['dashboard/**/*.ts'], ['coordinator', 'client']),
  restrictImports(
    ['protocol/**/*.ts', 'circuits/**/*.ts', 'ml/**/*.ts', 'common/**/*.ts', 'contracts/**/*.ts'],
    ['coordinator', 'client', 'verifier', 'cli', 'demo'],
  ),
  prettier,
);
