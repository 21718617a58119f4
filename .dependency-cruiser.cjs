/** Imports flow one way: `npm test` fails on any cycle, type-only imports included. */
module.exports = {
  forbidden: [
    {
      name: 'src-not-actors',
      severity: 'error',
      comment: 'src/ is the library (the round loop included); actors/ is where tasks run. The entry points (cli.ts, index.ts) wire actors into src.',
      from: { path: '^src/' },
      to: { path: '^actors/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means a declaration lives in the wrong module: move it where both sides can import it.',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
