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

/** A lint rule refusing the modules `patterns` (and those matching `regex`, if given) in `files`, saying why. */
function restrictModules(files, patterns, why, regex) {
  const message = `${files.join(', ')}: ${why}`;
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: patterns, message }, ...(regex ? [{ regex, message }] : [])] },
      ],
    },
  };
}

/** Each coordinator room (a folder, or the facade file) may import only the rooms below it in `layers`. */
function coordinatorRooms(layers) {
  const files = (room) => (room.endsWith('.ts') ? [`coordinator/${room}`] : [`coordinator/${room}/**/*.ts`]);
  const imports = (room) => (room.endsWith('.ts') ? [`**/${room.replace(/\.ts$/, '.js')}`] : [`**/${room}/**`]);
  return layers
    .slice(1)
    .map((_, i) =>
      restrictModules(
        files(layers[i + 1]),
        layers.slice(0, i + 1).flatMap(imports),
        `coordinator rooms import only downward (${layers.join(' → ')})`,
      ),
    );
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
  restrictImports(
    ['protocol/**/*.ts', 'circuits/**/*.ts', 'ml/**/*.ts', 'contracts/**/*.ts'],
    ['coordinator', 'client', 'verifier', 'cli', 'demo'],
  ),
  // common/ is the floor: everything may import it, and it imports nothing of ours.
  restrictImports(
    ['common/**/*.ts'],
    ['protocol', 'circuits', 'ml', 'contracts', 'coordinator', 'client', 'verifier', 'web', 'cli', 'demo'],
  ),
  // The coordinator's rooms import each other only downward: the surface (HTTP, sockets, sign-in) → the facade
  // (coordinator.ts) → views → instances → tasks → settlement → state. server.ts and options.ts assemble them all.
  ...coordinatorRooms(['surface', 'coordinator.ts', 'views', 'instances', 'tasks', 'settlement', 'state']),
  // The client's core runs in Node and in a browser: no server, no Node-only module (the lint sees direct imports;
  // test/unit/imports.test.ts follows them all).
  restrictModules(
    ['client/core/**/*.ts'],
    ['**/coordinator/**', 'coordinator/**', 'node:*'],
    "the client's core imports no server, no Node adapter of the client (../) and no Node-only code",
    '^\\.\\./[^./][^/]*$',
  ),
  // The web UI runs in a browser: no server, no Node-only module, and of the client only its platform-neutral core
  // (one rule: a later one for the same files would replace it).
  restrictModules(
    ['web/**/*.ts'],
    ['**/coordinator/**', 'coordinator/**', 'node:*'],
    'the web UI imports no server, no Node adapter of the client and no Node-only code',
    '(^|/)client/(?!core/)',
  ),
  prettier,
);
