/**
 * A guard in front of fzstd (0.1.1) for one input it never finishes: the Huffman
 * tree description of a compressed literals section (RFC 8878 4.2.1), whose weights
 * are FSE-coded (4.2.1.2). fzstd decodes them in a loop that ends only when the
 * bitstream runs out; a symbol holding more than half of the FSE table has states
 * that read no bits, and when such states lead to one another the loop spins forever
 * (found by npm run fuzz). The reference decoder stops at 255 weights. Here the same
 * table is built and the same loop run, at most 255 weights, before fzstd gets the block:
 * the description either ends within them or the block is corrupt.
 */
import { corrupt } from '../errors.js';

/** Weights a Huffman tree description may hold (RFC 8878 4.2.1.2: at most 255 symbols are described). */
const MAX_WEIGHTS = 255;

const msb = (v: number) => 31 - Math.clz32(v);

/**
 * Throws when `block` (a zstd block, its 3-byte header included) is compressed, its
 * literals carry an FSE-coded Huffman tree description, and decoding that description
 * would not end within 255 weights. Anything else is left to the decoder.
 */
export function checkHuffmanWeights(block: Buffer, description: string, offset: number): void {
  if (block.length < 4 || ((block[0]! >> 1) & 3) !== 2) return;
  const b3 = block[3]!;
  // Literals_Block_Type 2 (Compressed_Literals_Block) carries a tree description; 3 reuses the last one.
  if ((b3 & 3) !== 2) return;
  const sizeFormat = (b3 >> 2) & 3;
  const at = 3 + (sizeFormat < 2 ? 3 : sizeFormat === 2 ? 4 : 5);
  const headerByte = block[at];
  if (headerByte === undefined || headerByte >= 128) return;
  const table = fseTable(block, at + 1);
  if (!table) return;
  if (!weightsEnd(block, at + headerByte, table)) {
    throw corrupt('zstd block', `${description}: the Huffman weights of a literals section do not end within ${MAX_WEIGHTS}`, offset + at);
  }
}

interface FseTable {
  /** Byte after the table description. */
  end: number;
  accuracy: number;
  bits: Uint8Array;
  next: Uint16Array;
}

const byte = (b: Buffer, i: number) => b[i] ?? 0;

/** The FSE decoding table described at `at` (RFC 8878 4.1.1), built as fzstd builds it; undefined when fzstd would refuse it. */
function fseTable(b: Buffer, at: number): FseTable | undefined {
  let pos = (at << 3) + 4;
  const accuracy = (byte(b, at) & 15) + 5;
  if (accuracy > 6) return undefined;
  const size = 1 << accuracy;
  let probs = size;
  let sym = -1;
  let high = size;
  const freq = new Int16Array(256);
  const symbols = new Uint8Array(size);
  while (sym < 255 && probs > 0) {
    const bits = msb(probs + 1);
    const cbt = pos >> 3;
    const mask = (1 << (bits + 1)) - 1;
    let val = ((byte(b, cbt) | (byte(b, cbt + 1) << 8) | (byte(b, cbt + 2) << 16)) >> (pos & 7)) & mask;
    const mask1 = (1 << bits) - 1;
    const maxSmall = mask - probs - 1;
    const small = val & mask1;
    if (small < maxSmall) {
      pos += bits;
      val = small;
    } else {
      pos += bits + 1;
      if (val > mask1) val -= maxSmall;
    }
    freq[++sym] = --val;
    if (val === -1) {
      probs += val;
      symbols[--high] = sym;
    } else probs -= val;
    if (!val) {
      let repeat;
      do {
        const rbt = pos >> 3;
        repeat = ((byte(b, rbt) | (byte(b, rbt + 1) << 8)) >> (pos & 7)) & 3;
        pos += 2;
        sym += repeat;
      } while (repeat === 3 && sym < 256);
    }
  }
  if (sym > 255 || probs) return undefined;
  const state = new Uint16Array(256);
  let spread = 0;
  const step = (size >> 1) + (size >> 3) + 3;
  for (let s = 0; s <= sym; ++s) {
    const f = freq[s]!;
    if (f < 1) {
      state[s] = -f;
      continue;
    }
    state[s] = f;
    for (let i = 0; i < f; ++i) {
      symbols[spread] = s;
      do spread = (spread + step) & (size - 1);
      while (spread >= high);
    }
  }
  if (spread) return undefined;
  const bits = new Uint8Array(size);
  const next = new Uint16Array(size);
  for (let i = 0; i < size; ++i) {
    const ns = state[symbols[i]!]!++;
    const nb = (bits[i] = accuracy - msb(ns));
    next[i] = (ns << nb) - size;
  }
  return { end: (pos + 7) >> 3, accuracy, bits, next };
}

/** Whether fzstd's loop over the FSE-coded weights (ending at byte `last`) stops within MAX_WEIGHTS weights. */
function weightsEnd(b: Buffer, last: number, t: FseTable): boolean {
  const lastByte = byte(b, last);
  if (!lastByte) return true; // fzstd refuses it itself
  const endPos = t.end << 3;
  let pos = ((last + 1) << 3) - 8 + msb(lastByte);
  let s1 = 0;
  let s2 = 0;
  let bits1 = t.accuracy;
  let bits2 = bits1;
  for (let weights = 0; weights <= MAX_WEIGHTS; ) {
    pos -= bits1;
    if (pos < endPos) return true;
    s1 += ((byte(b, pos >> 3) | (byte(b, (pos >> 3) + 1) << 8)) >> (pos & 7)) & ((1 << bits1) - 1);
    weights++;
    pos -= bits2;
    if (pos < endPos) return true;
    s2 += ((byte(b, pos >> 3) | (byte(b, (pos >> 3) + 1) << 8)) >> (pos & 7)) & ((1 << bits2) - 1);
    weights++;
    bits1 = t.bits[s1] ?? 0;
    s1 = t.next[s1] ?? 0;
    bits2 = t.bits[s2] ?? 0;
    s2 = t.next[s2] ?? 0;
  }
  return false;
}
