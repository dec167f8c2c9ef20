/**
 * LZNT1, the compression of NTFS compressed files: a compression unit (16 clusters,
 * usually 64 KiB) is stored as a run of chunks, each a 2-byte header (stored size,
 * compressed flag) and up to 4 KiB of data: either the bytes as they are, or groups of
 * eight tokens led by a flag byte, each token a literal byte or a back-reference whose
 * split between offset and length bits depends on how far into the 4 KiB chunk the
 * output is.
 *
 * Follows the description of LZNT1 in [MS-XCA] section 2.5 and in the Linux-NTFS
 * documentation ("Compression"). Every back-reference is checked against the output
 * written so far and the output is capped at the unit size, so hostile data can
 * neither read outside the buffer nor grow it.
 */
import { corrupt } from '../../errors.js';

const CHUNK = 4096;

/** Decompresses `input` into at most `unitSize` bytes; `offset` is where `input` lies, for errors. */
export function decompressLznt1(input: Buffer, unitSize: number, offset: number): Buffer {
  const out = Buffer.alloc(unitSize);
  let inPos = 0;
  let outPos = 0;
  const fail = (msg: string): never => {
    throw corrupt('NTFS LZNT1 compressed data', msg, offset + inPos);
  };
  while (inPos + 2 <= input.length && outPos < unitSize) {
    const header = input.readUInt16LE(inPos);
    if (header === 0) break;
    const size = (header & 0x0fff) + 1;
    const end = inPos + 2 + size;
    if (end > input.length) fail(`a chunk of ${size} bytes runs past the compressed data`);
    const chunkStart = outPos;
    const chunkEnd = Math.min(unitSize, outPos + CHUNK);
    inPos += 2;
    if ((header & 0x8000) === 0) {
      // Stored as is.
      const n = Math.min(size, chunkEnd - outPos);
      input.copy(out, outPos, inPos, inPos + n);
      outPos += n;
      inPos = end;
      continue;
    }
    while (inPos < end && outPos < chunkEnd) {
      const flags = input[inPos++]!;
      for (let bit = 0; bit < 8 && inPos < end && outPos < chunkEnd; bit++) {
        if ((flags & (1 << bit)) === 0) {
          out[outPos++] = input[inPos++]!;
          continue;
        }
        if (inPos + 2 > end) fail('a back-reference runs past its chunk');
        const token = input.readUInt16LE(inPos);
        inPos += 2;
        let lengthMask = 0x0fff;
        let offsetShift = 12;
        for (let p = outPos - chunkStart - 1; p >= 0x10; p >>= 1) {
          lengthMask >>= 1;
          offsetShift--;
        }
        const back = (token >> offsetShift) + 1;
        const length = (token & lengthMask) + 3;
        if (back > outPos - chunkStart) fail(`a back-reference of ${back} bytes reaches before its chunk`);
        const n = Math.min(length, chunkEnd - outPos);
        // Byte by byte: a reference may overlap the bytes it writes.
        for (let i = 0; i < n; i++, outPos++) out[outPos] = out[outPos - back]!;
      }
    }
    inPos = end;
    // A chunk that decompresses short is padded with zeros up to 4 KiB only when another chunk follows.
    if (inPos + 2 <= input.length && input.readUInt16LE(inPos) !== 0) outPos = chunkEnd;
  }
  return out;
}
