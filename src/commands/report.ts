import type { Command } from 'commander';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('tables of mean ± std over seeds (final and best-round accuracy) for results directories (a grid, runs, or directories above them); writes report.md, report.csv, accuracy.svg and partition-<run>.svg')
    .argument('<dirs...>', 'results directories')
    .option('--out <dir>', 'where to write the files (default: the directory given, or ./report for several)')
    .option('--no-partitions', 'skip the partition pictures (they reload each dataset)')
    .action(async (dirs: string[], opts: { out?: string; partitions: boolean }) => {
      const { writeReport } = await import('../experiments/report.js');
      writeReport({ paths: dirs, out: opts.out ?? (dirs.length === 1 ? (dirs[0] as string) : 'report'), partitions: opts.partitions });
    });
}
