/**
 * An error caused by the user's input (a scenario file, a checkpoint, a flag). The CLI prints
 * its message on one line and exits with code 2, without a stack trace.
 */
export class UserError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly expected: string,
  ) {
    super(field ? `${file}: ${field}: ${expected}` : `${file}: ${expected}`);
    this.name = 'UserError';
  }
}

/** A run stopped on purpose by a scenario rule (e.g. faults.onDivergence: stop); one line, exit code 1. */
export class RunStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunStoppedError';
  }
}
