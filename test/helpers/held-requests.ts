/**
 * Holding a fake cloud's answer to a chosen request, so a test reaches a phase of a
 * run deterministically: the fake does what the request asks (a create creates), then
 * keeps the answer until the test lets it go, e.g. after signalling the process.
 */
export interface Hold {
  /** Resolves when the held request has arrived (and been carried out). */
  reached: Promise<void>;
  /** Sends the answer. */
  release(): void;
}

interface Waiting {
  skip: number;
  reach: () => void;
  released: Promise<void>;
  hold: Hold;
}

export class Holds {
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly all: Hold[] = [];

  /** Holds the answer to the next request of `action` (after skipping `skip` of them). */
  hold(action: string, skip = 0): Hold {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (reach = r));
    const released = new Promise<void>((r) => (release = r));
    const hold: Hold = { reached, release };
    this.all.push(hold);
    const list = this.waiting.get(action) ?? [];
    list.push({ skip, reach, released, hold });
    this.waiting.set(action, list);
    return hold;
  }

  /** Awaited by the fake before it answers a request of `action`. */
  async pass(action: string): Promise<void> {
    const list = this.waiting.get(action);
    const w = list?.[0];
    if (!w) return;
    if (w.skip > 0) {
      w.skip--;
      return;
    }
    list!.shift();
    w.reach();
    await w.released;
  }

  /** Lets every held answer go (at the end of a test). */
  releaseAll(): void {
    for (const h of this.all) h.release();
    this.waiting.clear();
  }
}
