import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { outcome, roundRecords, summaryOf } from './helpers/kit.js';
import { makeTinyFm4, METHOD_YAML, TINY_FM4, tinyMethodScenario } from './helpers/tiny-fm4.js';
import { cli, tempDir, writeScenario } from './helpers/tiny-run.js';

/**
 * Measured costs through the built CLI (run `npx tsc -p tsconfig.json` first), checked against
 * the closed forms of METHOD.md's cost model, on the 4-layer tiny FM: 8 clients, K = 3 per
 * round, 4 rounds, FedPFT realigning every 2 rounds. Also: FedPFT's probes, realignment and
 * pending patch bytes are deterministic across worker counts and across a stop and resume
 * right after an alignment round.
 */

const D = TINY_FM4.hiddenSize;
const L = TINY_FM4.numHiddenLayers;
const FF = TINY_FM4.intermediateSize;
const C = 10;
const RANK = 2;
const K = 3;
const KEEP = 0.25;
const P = 0.5;
const INTERVAL = 2;
const COMPRESSED = [1, 2];
/** LoRA (2 d r per target, 4 targets per layer, every layer) plus the head. */
const TRAINABLE = L * 4 * 2 * D * RANK + D * C + C;

interface Round {
  round: number;
  clients: number[];
  bytesUp: number;
  bytesDown: number;
  method?: { aligned?: boolean; updatedNeurons?: number[]; alignSeconds?: number; apozClients?: number };
  [key: string]: unknown;
}

let work: string;
const results = () => join(work, 'results');
const runDir = (scenario: string, id: string) => join(results(), scenario, id);
const rounds = (scenario: string, id: string) => roundRecords<Round>(runDir(scenario, id));
const summary = (scenario: string, id: string) => summaryOf(runDir(scenario, id));
const info = (scenario: string, id: string) => summary(scenario, id).methodInfo;

/** Multiply-adds of one forward pass of a ViT with LoRA of rank r on the 4 attention projections, from the shapes. */
function handMacs(ffWidths: number[], r: number): number {
  const tokens = (TINY_FM4.imageSize / TINY_FM4.patchSize) ** 2 + 1;
  const patchEmbed = (tokens - 1) * TINY_FM4.numChannels * TINY_FM4.patchSize ** 2 * D;
  let layers = 0;
  for (const ff of ffWidths) {
    const qkvo = 4 * tokens * D * D;
    const scoresAndContext = 2 * tokens * tokens * D;
    const ffn = tokens * D * ff + tokens * ff * D;
    const lora = 4 * (tokens * D * r + tokens * r * D);
    layers += qkvo + scoresAndContext + ffn + lora;
  }
  return patchEmbed + layers + D * C;
}

async function run(file: string, args: string[]): Promise<void> {
  const out = await cli(['run', file, '--results', results(), ...args]);
  if (out.code !== 0) throw new Error(`fedpft run ${args.join(' ')} failed (${out.code}): ${out.stderr}`);
}

describe('method costs and FedPFT determinism (tiny 4-layer scenario through the CLI)', () => {
  const files: Record<string, string> = {};

  beforeAll(async () => {
    work = tempDir('method-costs');
    await makeTinyFm4(join(work, 'fm'));
    files['pet'] = writeScenario(work, tinyMethodScenario(join(work, 'fm'), METHOD_YAML.fedpetuning, 'pet'), 'pet.yaml');
    files['ot'] = writeScenario(work, tinyMethodScenario(join(work, 'fm'), METHOD_YAML.fedot, 'ot'), 'ot.yaml');
    files['pft'] = writeScenario(work, tinyMethodScenario(join(work, 'fm'), METHOD_YAML.fedpft(), 'pft'), 'pft.yaml');
    // Two lanes of child processes; resume names its run, since another pft run may be unfinished meanwhile.
    await Promise.all([
      (async () => {
        await run(files['pft'] as string, ['--run-id', 'w1', '--workers', '1']);
        await run(files['pft'] as string, ['--run-id', 'stopped', '--workers', '2', '--stop-after-round', '2']);
        if (existsSync(join(runDir('pft', 'stopped'), 'summary.json'))) throw new Error('the stopped run finished');
        await run(files['pft'] as string, ['--resume', 'stopped', '--workers', '1']);
      })(),
      (async () => {
        await run(files['pft'] as string, ['--run-id', 'w2', '--workers', '2']);
        await run(files['pet'] as string, ['--run-id', 'w1', '--workers', '1']);
        await run(files['ot'] as string, ['--run-id', 'w1', '--workers', '1']);
      })(),
    ]);
  }, 240_000);

  it('fedpetuning and fedot: every round moves K x 4 x trainable bytes each way', () => {
    for (const scenario of ['pet', 'ot']) {
      expect(info(scenario, 'w1')['trainableParams']).toBe(TRAINABLE);
      const rs = rounds(scenario, 'w1');
      expect(rs.map((r) => r.round)).toEqual([1, 2, 3, 4]);
      for (const r of rs) {
        expect(r.clients.length).toBe(K);
        expect(r.bytesUp, `${scenario} round ${r.round} up`).toBe(K * 4 * TRAINABLE);
        expect(r.bytesDown, `${scenario} round ${r.round} down`).toBe(K * 4 * TRAINABLE);
        expect(r.method).toBeUndefined();
      }
      const s = summary(scenario, 'w1');
      expect(s['bytesUpTotal']).toBe(4 * K * 4 * TRAINABLE);
      expect(s['bytesDownTotal']).toBe(4 * K * 4 * TRAINABLE);
    }
  });

  it('fedpft: APoZ counts go up with alignment rounds\' updates; every later participant downloads each patch it missed', () => {
    const i = info('pft', 'w1');
    expect(i['trainableParams']).toBe(TRAINABLE);
    const kept = Math.round(KEEP * FF);
    expect(i['compressedLayers']).toEqual(COMPRESSED);
    expect(i['ffnWidths']).toEqual(COMPRESSED.map(() => kept));
    expect(i['apozCriterion']).toBe('|gelu(a)| <= 0.01');
    const s = Math.round(P * kept);
    // Per client: one int32 zero count per neuron of every compressed layer, plus the positions seen.
    const apozUp = 4 * (COMPRESSED.length * kept + 1);
    // Per compressed layer: W1 columns + indices, b1 entries + indices, W2 rows + indices, b2 whole (ViT's LayerNorm stays frozen).
    const patch = 4 * COMPRESSED.length * (D * s + s + s + s + s * D + s + D);
    const rs = rounds('pft', 'w1');
    expect(rs.map((r) => r.round)).toEqual([1, 2, 3, 4]);
    // Patches each client has applied; every client starts with the sub-FM as distilled before FL.
    const held = new Map<number, number>();
    let published = 0;
    for (const r of rs) {
      // After aggregation every t rounds, except the last round's, which nothing would use.
      const aligned = r.round % INTERVAL === 0 && r.round < rs.length;
      expect(r.method?.aligned ?? false, `round ${r.round}`).toBe(aligned);
      if (aligned) {
        expect(r.method?.updatedNeurons, `round ${r.round}`).toEqual(COMPRESSED.map(() => s));
        expect(r.method?.apozClients, `round ${r.round}`).toBe(K);
        expect(r['frozenPatchBytes'], `round ${r.round}`).toBe(patch);
      } else {
        expect(r['frozenPatchBytes'], `round ${r.round}`).toBeUndefined();
      }
      expect(r.bytesUp, `round ${r.round} up`).toBe(K * 4 * TRAINABLE + (aligned ? K * apozUp : 0));
      const missed = r.clients.reduce((t, c) => t + published - (held.get(c) ?? 0), 0);
      expect(r.bytesDown, `round ${r.round} down`).toBe(K * 4 * TRAINABLE + missed * patch);
      for (const c of r.clients) held.set(c, published);
      if (aligned) published++;
    }
    // Round 3 carries round 2's realignment to all of its clients; round 4 to those round 3 did not sample.
    expect((rs[2] as Round).bytesDown - K * 4 * TRAINABLE).toBe(K * patch);
    const fresh = (rs[3] as Round).clients.filter((c) => !(rs[2] as Round).clients.includes(c)).length;
    expect((rs[3] as Round).bytesDown - K * 4 * TRAINABLE).toBe(fresh * patch);
    const sum = summary('pft', 'w1');
    expect(sum['bytesUpTotal']).toBe(rs.reduce((t, r) => t + r.bytesUp, 0));
    expect(sum['bytesDownTotal']).toBe(4 * K * 4 * TRAINABLE + (K + fresh) * patch);
  });

  it('fedpft gives identical metrics and final weights with 1 and 2 workers', () => {
    expect(outcome(runDir('pft', 'w2'))).toEqual(outcome(runDir('pft', 'w1')));
  });

  it('fedpft stopped after an alignment round and resumed ends identical to an uninterrupted run', () => {
    const resumed = rounds('pft', 'stopped');
    // Round 3's download includes the patch published after round 2, known again from rounds.jsonl.
    expect((resumed[2] as Round).bytesDown).toBeGreaterThan(K * 4 * TRAINABLE);
    expect(outcome(runDir('pft', 'stopped'))).toEqual(outcome(runDir('pft', 'w1')));
  });

  it("client forward MACs: fedpft's sub-FM costs less than the full FM and matches a count from the shapes", () => {
    const full = handMacs(Array.from({ length: L }, () => FF), RANK);
    const sub = handMacs(
      Array.from({ length: L }, (_, l) => (COMPRESSED.includes(l) ? Math.round(KEEP * FF) : FF)),
      RANK,
    );
    const pet = info('pet', 'w1');
    const pft = info('pft', 'w1');
    const ot = info('ot', 'w1');
    expect(pet['clientForwardMacsPerExample']).toBe(full);
    expect(pft['clientForwardMacsPerExample']).toBe(sub);
    expect(sub).toBeLessThan(full);
    expect(pft['fmForwardMacsPerExample']).toBe(full);
    // fedot: 3 layers (adapters 0 and 3, one emulated middle layer) at LoRA rank RANK * L / 2.
    expect(ot['clientForwardMacsPerExample']).toBe(handMacs([FF, FF, FF], (RANK * L) / 2));
  });
});
