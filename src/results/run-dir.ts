import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, type NamedArray } from '../model/safetensors.js';
import { appendLineDurable, writeFileAtomic } from '../util/atomic-write.js';
import { UserError } from '../util/errors.js';

/** One line of rounds.jsonl. */
export interface RoundRecord {
  round: number;
  lr: number;
  clients: number[];
  /** Mean over the clients whose updates were aggregated; null when none were. */
  meanTrainLoss: number | null;
  accuracy?: number;
  evalLoss?: number;
  /** Seconds of wall time for the round; the only field that differs between identical runs. */
  wallSeconds: number;
  /** Sum over the round's clients of their local training time. */
  clientTrainSeconds: number;
  /** Sum over the round's clients of their optimiser steps (clientTrainSeconds / clientSteps is the step time). */
  clientSteps?: number;
  bytesUp: number;
  bytesDown: number;
  /** Sampled clients that sent nothing usable: dropped out, missed the deadline, or NaN/Inf. */
  faults?: { dropped: number[]; late: number[]; rejected: number[] };
  /** Live tfjs tensors after the round: on the server and the most on any client actor. */
  tensors?: { server: number; actorMax: number };
  /** Method-specific facts from its per-round hook (e.g. realigned neurons). */
  method?: Record<string, unknown>;
  /** Bytes of the frozen-model patch published after this round (every client downloads it before it next trains). */
  frozenPatchBytes?: number;
}

export interface Checkpoint {
  round: number;
  global: Float32Array;
  methodState: NamedArray[];
  facts: Record<string, number>;
}

const CHECKPOINT = 'checkpoint.safetensors';
const ROUNDS = 'rounds.jsonl';

/**
 * A run's folder: results/<scenario>/<run-id>/ with scenario.json, environment.json,
 * partition.json, rounds.jsonl, checkpoint.safetensors (while running) and summary.json.
 * Every file is written atomically; rounds.jsonl is appended and fsynced per round, and on
 * resume cut back to the checkpointed round, so a crash never leaves a half-line behind.
 */
export class RunDir {
  private constructor(readonly path: string) {}

  static create(root: string, scenarioName: string, runId: string): RunDir {
    const path = join(root, scenarioName, runId);
    if (existsSync(path)) throw new UserError(path, '', 'run directory already exists; pass --resume to continue it or another --run-id');
    mkdirSync(path, { recursive: true });
    return new RunDir(path);
  }

  /** The named run, or the newest one without summary.json. */
  static open(root: string, scenarioName: string, runId?: string): RunDir {
    const dir = join(root, scenarioName);
    if (runId) {
      if (!existsSync(join(dir, runId))) throw new UserError(join(dir, runId), '', 'no such run to resume');
      return new RunDir(join(dir, runId));
    }
    const unfinished = existsSync(dir)
      ? readdirSync(dir)
          .filter((id) => existsSync(join(dir, id, 'scenario.json')) && !existsSync(join(dir, id, 'summary.json')))
          .sort()
      : [];
    const newest = unfinished[unfinished.length - 1];
    if (!newest) throw new UserError(dir, '', 'no unfinished run to resume');
    return new RunDir(join(dir, newest));
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(join(this.path, name), JSON.stringify(value, null, 2) + '\n');
  }

  /** A missing or unparsable file (e.g. a run killed before it wrote scenario.json) is a UserError. */
  readJson<T>(name: string): T {
    const file = join(this.path, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(file, '', code === 'ENOENT' ? 'file not found (the run was interrupted before it started?); start a new run instead' : `cannot read file (${code ?? String(err)})`);
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      // eslint-disable-next-line no-control-regex -- V8 quotes the bad input, control characters included
      throw new UserError(file, '', `invalid JSON (${(err as Error).message.replace(/\s+/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '?').slice(0, 200)})`);
    }
  }

  appendRound(record: RoundRecord): void {
    appendLineDurable(join(this.path, ROUNDS), JSON.stringify(record));
  }

  /** The recorded rounds up to `lastRound`, rewriting the file without anything later. */
  rounds(lastRound = Infinity): RoundRecord[] {
    const file = join(this.path, ROUNDS);
    if (!existsSync(file)) return [];
    const kept: RoundRecord[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let rec: RoundRecord;
      try {
        rec = JSON.parse(line) as RoundRecord;
      } catch {
        break;
      }
      if (rec.round > lastRound) break;
      kept.push(rec);
    }
    if (Number.isFinite(lastRound)) writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    return kept;
  }

  /**
   * Everything a resumed run needs, in one atomically replaced file: the global vector, the
   * method's own state tensors (prefixed `method.`) and small facts such as pending bytes.
   */
  saveCheckpoint(ckpt: Checkpoint): void {
    const tensors: NamedArray[] = [{ name: 'global', shape: [ckpt.global.length], data: ckpt.global }];
    for (const t of ckpt.methodState) tensors.push({ ...t, name: `method.${t.name}` });
    writeFileAtomic(join(this.path, CHECKPOINT), encodeSafetensors(tensors, { round: String(ckpt.round), facts: JSON.stringify(ckpt.facts) }));
  }

  loadCheckpoint(): Checkpoint | null {
    const file = join(this.path, CHECKPOINT);
    if (!existsSync(file)) return null;
    const { tensors, metadata } = decodeSafetensors(readFileSync(file), file);
    const global = tensors.get('global');
    if (!global) throw new UserError(file, 'global', 'missing tensor');
    const methodState = [...tensors.values()].filter((t) => t.name.startsWith('method.')).map((t) => ({ ...t, name: t.name.slice('method.'.length) }));
    // A checkpoint is only trusted whole: a bad round or facts entry must not resume silently.
    const round = metadata['round'];
    if (round === undefined || !/^\d+$/.test(round)) throw new UserError(file, '__metadata__.round', `expected a round number, got ${JSON.stringify(round)}`);
    let facts: unknown;
    try {
      facts = JSON.parse(metadata['facts'] ?? '{}');
    } catch {
      facts = null;
    }
    if (typeof facts !== 'object' || facts === null || Array.isArray(facts) || !Object.values(facts).every((v) => typeof v === 'number')) {
      throw new UserError(file, '__metadata__.facts', 'expected a JSON object of numbers');
    }
    return { round: Number(round), global: global.data, methodState, facts: facts as Record<string, number> };
  }
}

export function weightsHash(w: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
}
