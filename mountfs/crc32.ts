/**
 * CRC-32 (IEEE, as zlib and the UEFI GPT headers use it). Node 20's zlib has no crc32
 * before 20.15 and minescan supports every Node 20, so the table is built here.
 */
/** The byte-wise table of a reflected CRC with polynomial `poly` (reversed form); CRC-32C and ext4's CRC-16 use it too. */
export function reflectedCrcTable(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? poly ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

const TABLE = reflectedCrcTable(0xedb88320);

export function crc32(buf: Buffer): number {
  return (crc32Update(0xffffffff, buf) ^ 0xffffffff) >>> 0;
}

/** The reflected CRC-32 steps alone, from any seed, without the final XOR (LVM's checksum is this). */
export function crc32Update(seed: number, buf: Buffer): number {
  let c = seed >>> 0;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}
