/**
 * Bounds-checked little/big-endian reads on a Buffer, so no parser does raw offset
 * arithmetic on untrusted bytes. Every read outside the view throws a corrupt error
 * naming the structure and the absolute offset in the byte source.
 */
import { corrupt } from './errors.js';

export class BinaryView {
  constructor(
    readonly buf: Buffer,
    /** Name of the structure these bytes hold, used in error messages. */
    readonly structure: string,
    /** Absolute offset of buf[0] in the byte source, for error messages. */
    readonly baseOffset = 0,
  ) {}

  get length(): number {
    return this.buf.length;
  }

  private check(offset: number, size: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.buf.length) {
      throw corrupt(
        this.structure,
        `read of ${size} bytes at +${offset} is outside the ${this.buf.length}-byte structure`,
        this.baseOffset + Math.max(0, offset),
      );
    }
  }

  u8(o: number): number { this.check(o, 1); return this.buf.readUInt8(o); }
  u16le(o: number): number { this.check(o, 2); return this.buf.readUInt16LE(o); }
  u16be(o: number): number { this.check(o, 2); return this.buf.readUInt16BE(o); }
  u32le(o: number): number { this.check(o, 4); return this.buf.readUInt32LE(o); }
  u32be(o: number): number { this.check(o, 4); return this.buf.readUInt32BE(o); }
  i32le(o: number): number { this.check(o, 4); return this.buf.readInt32LE(o); }

  /** 64-bit values as numbers; throws when the value cannot be represented exactly. */
  u64le(o: number): number {
    this.check(o, 8);
    return safeNumber(this.buf.readBigUInt64LE(o), this.structure, this.baseOffset + o);
  }
  u64be(o: number): number {
    this.check(o, 8);
    return safeNumber(this.buf.readBigUInt64BE(o), this.structure, this.baseOffset + o);
  }

  /** A sub-view; the slice shares memory with this view. */
  slice(o: number, length: number, structure = this.structure): BinaryView {
    this.check(o, length);
    return new BinaryView(this.buf.subarray(o, o + length), structure, this.baseOffset + o);
  }

  bytes(o: number, length: number): Buffer {
    this.check(o, length);
    return this.buf.subarray(o, o + length);
  }

  /** ASCII/UTF-8 text up to the first NUL inside [o, o+length). */
  cstring(o: number, length: number, encoding: BufferEncoding = 'utf8'): string {
    const b = this.bytes(o, length);
    const nul = b.indexOf(0);
    return b.subarray(0, nul === -1 ? b.length : nul).toString(encoding);
  }
}

export function safeNumber(v: bigint, structure: string, offset: number): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt(structure, `64-bit value ${v} is larger than any supported disk`, offset);
  }
  return Number(v);
}
