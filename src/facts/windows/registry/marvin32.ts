/**
 * Marvin32, the 64-bit keyed hash Windows uses to check the log entries of a registry
 * transaction log (new format): each entry carries one hash of its pages and one of
 * its header. Written from the algorithm's description (four 32-bit rotate-add-xor
 * rounds per 4-byte word, a 0x80 terminator, two final rounds); the registry uses the
 * seed 0x82EF4D887A4E55C5.
 */
export const REGISTRY_LOG_SEED = 0x82ef4d887a4e55c5n;

const rotl = (x: number, n: number) => ((x << n) | (x >>> (32 - n))) >>> 0;

export function marvin32(data: Buffer, seed: bigint = REGISTRY_LOG_SEED): bigint {
  let p0 = Number(seed & 0xffffffffn);
  let p1 = Number(seed >> 32n);
  const block = () => {
    p1 = (p1 ^ p0) >>> 0;
    p0 = rotl(p0, 20);
    p0 = (p0 + p1) >>> 0;
    p1 = rotl(p1, 9);
    p1 = (p1 ^ p0) >>> 0;
    p0 = rotl(p0, 27);
    p0 = (p0 + p1) >>> 0;
    p1 = rotl(p1, 19);
  };
  let i = 0;
  for (; i + 4 <= data.length; i += 4) {
    p0 = (p0 + data.readUInt32LE(i)) >>> 0;
    block();
  }
  let final = 0x80;
  const left = data.length - i;
  if (left === 1) final = 0x8000 | data[i]!;
  else if (left === 2) final = 0x800000 | data[i]! | (data[i + 1]! << 8);
  else if (left === 3) final = (0x80000000 | data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16)) >>> 0;
  p0 = (p0 + final) >>> 0;
  block();
  block();
  return (BigInt(p1) << 32n) | BigInt(p0);
}
