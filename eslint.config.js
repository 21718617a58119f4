import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'results/**', 'models/**'] },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules for the code that reads tensors: a read is asynchronous on every backend
    // (webgpu in Node has no synchronous one), and a promise nobody awaits loses its errors.
    files: ['src/**/*.ts', 'actors/**/*.ts', 'test/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use a seeded stream from src/util/rng.ts (determinism contract).' },
      ],
    },
  },
  {
    // Tests may read synchronously on the cpu and wasm backends they pin.
    files: ['src/**/*.ts', 'actors/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'MemberExpression[property.name=/^(dataSync|arraySync|bufferSync)$/]', message: 'Synchronous tensor reads fail on webgpu in Node: await a read from src/tensor/read.ts.' },
      ],
    },
  },
  {
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use a seeded stream from src/util/rng.ts (determinism contract).' }],
    },
  },
);
