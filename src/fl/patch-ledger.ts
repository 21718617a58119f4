/**
 * Which frozen client-model patches (FedPFT's realigned FFN neurons) each client holds. A client
 * starts with the client model as it was before FL (version 0); each patch the server publishes
 * is the next version. A client downloads every patch it missed when it is next sampled, not only
 * the newest one, so a rarely sampled client pays for all of them.
 */
export class PatchLedger {
  /** held[c] = how many patches client c has applied. */
  private readonly held: Int32Array;
  /** cumulative[v] = bytes of patches 1..v. */
  private readonly cumulative: number[] = [0];

  constructor(numClients: number) {
    this.held = new Int32Array(numClients);
  }

  get versions(): number {
    return this.cumulative.length - 1;
  }

  publish(bytes: number): void {
    this.cumulative.push((this.cumulative[this.versions] as number) + bytes);
  }

  /** Bytes the clients download to hold every published patch; afterwards they do. */
  catchUp(clients: readonly number[]): number {
    const now = this.versions;
    const latest = this.cumulative[now] as number;
    let bytes = 0;
    for (const c of clients) {
      bytes += latest - (this.cumulative[this.held[c] as number] as number);
      this.held[c] = now;
    }
    return bytes;
  }

  /**
   * The ledger after the given rounds, rebuilt from their records (a resumed run): each round's
   * sampled clients caught up before training, and a patch published after its aggregation.
   */
  static replay(numClients: number, rounds: readonly { clients: readonly number[]; frozenPatchBytes?: number }[]): PatchLedger {
    const ledger = new PatchLedger(numClients);
    for (const r of rounds) {
      ledger.catchUp(r.clients);
      if (r.frozenPatchBytes !== undefined) ledger.publish(r.frozenPatchBytes);
    }
    return ledger;
  }
}
