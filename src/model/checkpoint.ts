import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from './safetensors.js';

/** A HuggingFace-layout checkpoint directory: config.json next to model.safetensors. */
export interface Checkpoint {
  config: Record<string, unknown>;
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
  dir: string;
}

const CONFIG_FILE = 'config.json';
const WEIGHTS_FILE = 'model.safetensors';

/** config.json of a checkpoint directory, checked to be a JSON object. */
export function readCheckpointConfig(dir: string): Record<string, unknown> {
  if (!isDirectory(dir)) throw new UserError(dir, '', 'checkpoint directory does not exist');
  const configPath = join(dir, CONFIG_FILE);
  let config: unknown;
  try {
    config = JSON.parse(readUserFile(configPath).toString('utf8'));
  } catch (err) {
    if (err instanceof UserError) throw err;
    // V8 quotes part of the input in its message; collapse it so the error stays on one line.
    // eslint-disable-next-line no-control-regex -- V8 quotes the bad input, control characters included
    throw new UserError(configPath, '', `invalid JSON (${(err as Error).message.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200)})`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new UserError(configPath, '', 'expected a JSON object');
  }
  return config as Record<string, unknown>;
}

export function readCheckpoint(dir: string): Checkpoint {
  const config = readCheckpointConfig(dir);
  const weightsPath = join(dir, WEIGHTS_FILE);
  const { tensors, metadata } = decodeSafetensors(readUserFile(weightsPath), weightsPath);
  return { config, tensors, metadata, dir };
}

/**
 * Writes both files atomically (each on its own: a crash between them can pair a new
 * model.safetensors with the old config.json) and returns the weights' sha256.
 */
export function writeCheckpoint(
  dir: string,
  config: object,
  tensors: NamedArray[],
  metadata?: Record<string, string>,
): { sha256: string } {
  mkdirSync(dir, { recursive: true });
  const weights = encodeSafetensors(tensors, metadata);
  writeFileAtomic(join(dir, WEIGHTS_FILE), weights);
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
  // Hashing the bytes just written equals hashing the file, without reading it back.
  return { sha256: createHash('sha256').update(weights).digest('hex') };
}

/** Hex sha256 of a file, read in chunks so that multi-GB checkpoints need no whole-file buffer. */
export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = openUserFile(file);
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = readSync(fd, chunk, 0, chunk.length, null)) > 0) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readUserFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw fsUserError(file, err);
  }
}

function openUserFile(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (err) {
    throw fsUserError(file, err);
  }
}

/** A missing or unreadable input file is the user's to fix, so it is reported without a stack. */
function fsUserError(file: string, err: unknown): UserError {
  const code = (err as NodeJS.ErrnoException).code;
  return new UserError(file, '', code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`);
}
