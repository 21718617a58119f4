/** A held slot of one device kind; releasing it twice frees it only once. */
export interface Lease {
  readonly kind: string;
  release(): void;
}

interface Device {
  readonly slots: number;
  holders: number;
  maxHolders: number;
  /** Grants waiting for a slot, oldest first. */
  readonly queue: Array<(lease: Lease) => void>;
}

/**
 * Counts concurrent users of each device kind (e.g. two GPU streams, four CPU cores) so that
 * actors from any number of pools never oversubscribe a device. Waiters are served strictly
 * first come, first served: a freed slot passes straight to the oldest waiter, so a late
 * acquire can never overtake one that is already queued.
 */
export class DeviceScheduler {
  /** Called after every change of a kind's holder count. */
  onChange?: (kind: string, holders: number) => void;

  readonly #devices = new Map<string, Device>();

  constructor(slots: Record<string, number>) {
    for (const [kind, n] of Object.entries(slots)) {
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`DeviceScheduler: kind "${kind}" needs a positive whole number of slots, got ${n}`);
      }
      this.#devices.set(kind, { slots: n, holders: 0, maxHolders: 0, queue: [] });
    }
  }

  acquire(kind: string): Promise<Lease> {
    let device: Device;
    try {
      device = this.#device(kind);
    } catch (err) {
      return Promise.reject(err);
    }
    if (device.holders < device.slots) {
      this.#setHolders(kind, device, device.holders + 1);
      return Promise.resolve(this.#lease(kind, device));
    }
    return new Promise((grant) => device.queue.push(grant));
  }

  holders(kind: string): number {
    return this.#device(kind).holders;
  }

  /** The most holders a kind has had at once since construction. */
  maxHolders(kind: string): number {
    return this.#device(kind).maxHolders;
  }

  #device(kind: string): Device {
    const device = this.#devices.get(kind);
    if (!device) {
      const known = [...this.#devices.keys()].join(', ');
      throw new Error(`DeviceScheduler: unknown device kind "${kind}" (known: ${known || 'none'})`);
    }
    return device;
  }

  #lease(kind: string, device: Device): Lease {
    let held = true;
    return {
      kind,
      release: () => {
        if (!held) return;
        held = false;
        const next = device.queue.shift();
        // The slot passes straight to the oldest waiter, so the count stays put and an
        // acquire arriving meanwhile cannot take the slot first.
        if (next) next(this.#lease(kind, device));
        else this.#setHolders(kind, device, device.holders - 1);
      },
    };
  }

  #setHolders(kind: string, device: Device, holders: number): void {
    device.holders = holders;
    device.maxHolders = Math.max(device.maxHolders, holders);
    this.onChange?.(kind, holders);
  }
}
