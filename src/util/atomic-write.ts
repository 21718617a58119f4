import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces `file` so that a crash leaves either the old content or the new, never a torn file:
 * the data goes to a temp file in the same directory (rename is only atomic within a
 * filesystem), is fsynced, and is then renamed over the target.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(file));
}

/** Appends one line and fsyncs it, so a record reported as written survives a crash. */
export function appendLineDurable(file: string, line: string): void {
  // A newline inside the line would split one record into two in a line-oriented log.
  if (line.includes('\n')) throw new Error(`appendLineDurable: line for ${file} contains a newline`);
  const created = !existsSync(file);
  const fd = openSync(file, 'a');
  try {
    writeFileSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) fsyncDir(dirname(file));
}

/** Makes a rename or a new directory entry durable; some platforms (Windows) cannot fsync a directory. */
function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best-effort: the file's bytes are durable; at worst a crash loses the rename or new entry.
  }
}
