import type { ClientHosts } from '../run/run-scenario.js';

/** A started `fedpft worker`: it serves its queue until closed. */
export interface ServingWorker {
  readonly name: string;
  close(): Promise<void>;
}

export interface WorkerOptions {
  url: string;
  queue: string;
  /** Client actors in this process: tasks served at once. */
  concurrency: number;
  /** Where fetched client models and patches are kept between tasks and runs. */
  cacheDir: string;
  log: (line: string) => void;
  /**
   * A job's lock: a worker that stops renewing it (killed) loses the job to another worker this
   * long after its last renewal, at the next stalled-job check.
   */
  lockMs?: number;
}

/** What the commands get from the entry point (cli.ts): the actor hosts, which live in actors/. */
export interface CommandContext {
  hosts: ClientHosts;
  startWorker(opts: WorkerOptions): Promise<ServingWorker>;
}
