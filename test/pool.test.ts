import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as Comlink from 'comlink';
import { afterEach, describe, expect, it } from 'vitest';
import { ActorPool, type PoolOptions } from '../actors/pool.js';
import { DeviceScheduler, type Lease } from '../actors/device-scheduler.js';
import type { EchoActor, EchoOptions } from './fixtures/echo-actor.js';

// Workers load compiled JavaScript, so the fixture and the pool come from dist/ (built by tsc).
const dist = new URL('../dist/', import.meta.url);
const fixture = new URL('test/fixtures/echo-actor.js', dist);
if (!existsSync(fixture)) throw new Error(`${fileURLToPath(fixture)} is missing: run \`npx tsc -p tsconfig.json\` first`);

const opened: ActorPool<EchoActor>[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((pool) => pool.close()));
});

async function openEcho(workers: number, extra: Partial<PoolOptions> = {}): Promise<ActorPool<EchoActor>> {
  const workerData: EchoOptions = { tag: 'echo' };
  const pool = await ActorPool.open<EchoActor>({ workers, workerFile: fixture, workerData, ...extra });
  opened.push(pool);
  return pool;
}

describe('ActorPool', () => {
  it('runs many tasks on a few long-lived actors', async () => {
    const pool = await openEcho(2);
    expect(pool.size).toBe(2);
    const seen = await Promise.all(
      Array.from({ length: 8 }, () =>
        pool.run(async (actor, slot) => {
          await actor.sleep(20);
          return { slot, ...(await actor.hello()) };
        }),
      ),
    );
    expect(new Set(seen.map((s) => s.threadId)).size).toBe(2);
    expect(seen.every((s) => s.tag === 'echo')).toBe(true);
    for (const slot of [0, 1]) {
      const mine = seen.filter((s) => s.slot === slot);
      // One thread per slot, and its actor's counter kept counting from run to run.
      expect(new Set(mine.map((s) => s.threadId)).size).toBe(1);
      expect(mine.map((s) => s.calls).sort((a, b) => a - b)).toEqual(mine.map((_, i) => i + 1));
    }
  });

  it('moves transferred buffers both ways instead of copying them', async () => {
    const pool = await openEcho(1);
    const sent = Float32Array.from([1, 2, 3, 4.5]);
    expect(await pool.run((a) => a.sum(Comlink.transfer(sent, [sent.buffer])))).toBe(10.5);
    expect(sent.byteLength).toBe(0);

    const weights = Float32Array.from([1, -2, 3]);
    const scaled = await pool.run((a) => a.scale(Comlink.transfer(weights, [weights.buffer]), 2));
    expect(weights.byteLength).toBe(0);
    expect(scaled).toBeInstanceOf(Float32Array);
    expect(Array.from(scaled)).toEqual([2, -4, 6]);
    expect(await pool.run((a) => a.lastOutByteLength())).toBe(0);
  });

  it('never lets more runs hold a device than it has slots', async () => {
    const scheduler = new DeviceScheduler({ gpu: 2 });
    const reported: number[] = [];
    scheduler.onChange = (kind, holders) => {
      expect(kind).toBe('gpu');
      reported.push(holders);
    };
    const pool = await openEcho(4, { scheduler, deviceKind: 'gpu' });
    let inside = 0;
    let mostInside = 0;
    const done = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        pool.run(async (actor) => {
          mostInside = Math.max(mostInside, ++inside);
          await actor.sleep(25);
          inside--;
          return i;
        }),
      ),
    );
    expect(done).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(scheduler.maxHolders('gpu')).toBe(2);
    expect(Math.max(...reported)).toBe(2);
    expect(mostInside).toBe(2);
    expect(scheduler.holders('gpu')).toBe(0);
  });

  it('broadcasts to every actor once', async () => {
    const pool = await openEcho(3);
    const replies = await pool.broadcast(async (actor, slot) => ({ slot, ...(await actor.hello()) }));
    expect(replies.map((r) => r.slot)).toEqual([0, 1, 2]);
    expect(new Set(replies.map((r) => r.threadId)).size).toBe(3);
  });

  it.each(['exit', 'throw'] as const)('rejects a run whose worker dies (%s) and replaces the worker', async (how) => {
    const pool = await openEcho(1);
    const before = await pool.run((a) => a.hello());
    await expect(pool.run((a) => a.crash(how))).rejects.toThrow(/actor slot 0 lost its worker thread/);
    const after = await pool.run((a) => a.hello());
    expect(after.threadId).not.toBe(before.threadId);
    expect(after.calls).toBe(1);
    expect((await pool.run((a) => a.hello())).calls).toBe(2);
  });

  it('fails open() when an actor cannot be built', async () => {
    const workerData: EchoOptions = { tag: 'broken', failBuild: true };
    await expect(ActorPool.open<EchoActor>({ workers: 2, workerFile: fixture, workerData })).rejects.toThrow(
      /build failed on purpose/,
    );
  });

  it('rejects a scheduler without a device kind', async () => {
    const scheduler = new DeviceScheduler({ gpu: 1 });
    await expect(openEcho(1, { scheduler })).rejects.toThrow(/deviceKind/);
  });

  it('closes: pending and later runs fail, and the process can exit by itself', async () => {
    const pool = await ActorPool.open<EchoActor>({ workers: 1, workerFile: fixture, workerData: { tag: 'c' } });
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const running = expect(
      pool.run((a) => {
        started();
        return a.sleep(10_000);
      }),
    ).rejects.toThrow(/actor slot 0: pool closed/);
    const queued = expect(pool.run((a) => a.hello())).rejects.toThrow(/ActorPool is closed/);
    await inFlight;
    await expect(pool.close()).resolves.toBeUndefined();
    await running;
    await queued;
    await expect(pool.run((a) => a.hello())).rejects.toThrow(/closed/);
    await expect(pool.close()).resolves.toBeUndefined();

    // A child process with no test runner around it must exit on its own after close().
    const script = `
      const { ActorPool } = await import(${JSON.stringify(new URL('actors/pool.js', dist).href)});
      const pool = await ActorPool.open({ workers: 2, workerFile: ${JSON.stringify(fixture.href)}, workerData: { tag: 'child' } });
      const r = await pool.run((a) => a.hello());
      await pool.close();
      console.log(r.tag);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('child');
  });
});

describe("ActorPool with host 'processes' (one child process per actor)", () => {
  const openProcs = (workers: number, tag = 'proc') => ActorPool.open<EchoActor>({ workers, workerFile: fixture, workerData: { tag }, host: 'processes' }).then((pool) => (opened.push(pool), pool));

  it('serves each slot from its own long-lived process, copying (not moving) buffers over IPC', async () => {
    const pool = await openProcs(2);
    const seen = await Promise.all(Array.from({ length: 6 }, () => pool.run(async (a, slot) => ({ slot, ...(await a.hello()) }))));
    const pids = new Set(seen.map((s) => s.pid));
    expect(pids.size).toBe(2);
    expect(pids.has(process.pid)).toBe(false);
    for (const slot of [0, 1]) expect(new Set(seen.filter((s) => s.slot === slot).map((s) => s.pid)).size).toBe(1);
    const sent = Float32Array.from([1, 2, 3.5]);
    expect(await pool.run((a) => a.sum(Comlink.transfer(sent, [sent.buffer])))).toBe(6.5);
    expect(Array.from(sent)).toEqual([1, 2, 3.5]);
    expect(Array.from(await pool.run((a) => a.scale(Float32Array.from([1, -2]), 3)))).toEqual([3, -6]);
  });

  it('replaces a process that dies mid-call; the call fails naming the slot, the next one gets a fresh actor', async () => {
    const pool = await openProcs(1);
    const before = await pool.run((a) => a.hello());
    await expect(pool.run((a) => a.crash('exit'))).rejects.toThrow(/actor slot 0 lost its process \(exit code 1\)/);
    const after = await pool.run((a) => a.hello());
    expect(after.pid).not.toBe(before.pid);
    expect(after.calls).toBe(1);
  });

  it("fails open() with the child's own reason when an actor cannot be built", async () => {
    const build = ActorPool.open<EchoActor>({ workers: 1, workerFile: fixture, workerData: { tag: 'broken', failBuild: true }, host: 'processes' });
    await expect(build).rejects.toThrow(/build failed on purpose/);
  });

  it('closes: its children exit', async () => {
    const pool = await openProcs(2);
    const pids = await pool.broadcast((a) => a.hello().then((h) => h.pid));
    await pool.close();
    await sleep(200);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('DeviceScheduler', () => {
  it('serves waiters first come, first served', async () => {
    const scheduler = new DeviceScheduler({ gpu: 1, cpu: 2 });
    const first = await scheduler.acquire('gpu');
    const order: string[] = [];
    const waiting = ['a', 'b', 'c'].map((name) =>
      scheduler.acquire('gpu').then((lease) => {
        order.push(name);
        return lease;
      }),
    );
    await sleep(5);
    expect(order).toEqual([]);
    first.release();
    for (const next of waiting) (await next).release();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(scheduler.holders('gpu')).toBe(0);
    expect(scheduler.maxHolders('gpu')).toBe(1);
    expect(scheduler.holders('cpu')).toBe(0);
  });

  it('ignores a second release of the same lease', async () => {
    const scheduler = new DeviceScheduler({ gpu: 1 });
    const first = await scheduler.acquire('gpu');
    const second = scheduler.acquire('gpu');
    first.release();
    first.release();
    const held = await second;
    expect(held.kind).toBe('gpu');
    let third: Lease | undefined;
    const thirdGranted = scheduler.acquire('gpu').then((lease) => (third = lease));
    await sleep(5);
    expect(third).toBeUndefined();
    expect(scheduler.holders('gpu')).toBe(1);
    held.release();
    await thirdGranted;
    third?.release();
    third?.release();
    expect(scheduler.holders('gpu')).toBe(0);
    expect(scheduler.maxHolders('gpu')).toBe(1);
  });

  it('rejects unknown kinds and bad slot counts', async () => {
    const scheduler = new DeviceScheduler({ gpu: 2 });
    await expect(scheduler.acquire('tpu')).rejects.toThrow(/unknown device kind "tpu"/);
    expect(() => scheduler.holders('tpu')).toThrow(/tpu/);
    expect(() => new DeviceScheduler({ gpu: 0 })).toThrow(/positive whole number/);
  });
});
