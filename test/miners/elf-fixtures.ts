/**
 * Real ELF programs for the miner tests, compiled with gcc: each embeds the given
 * strings in .rodata the way a miner's help text, algorithm table and built-in config
 * sit there. Also the damaging edits tests need (a section table that points nowhere,
 * one removed as packers do).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

/** The Monero General Fund's published address: a real standard address. */
export const XMR_WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';

/** Strings of a real XMRig 6 build: name, user agent, donation hosts, options, algorithms, protocol. */
export const XMRIG_STRINGS = [
  'XMRig/%s (Linux x86_64) libuv/%s gcc/%d.%d.%d',
  'xmrig',
  'donate.v2.xmrig.com',
  'donate.ssl.xmrig.com',
  '      --donate-level=N          donate level, default 1%% (1 minute in 100 minutes)',
  'rx/0',
  'cn/r',
  'randomx',
  'cryptonight',
  'stratum+tcp://',
  'stratum+ssl://',
  'nicehash',
  `{"pools":[{"url":"pool.supportxmr.com:3333","user":"${XMR_WALLET}","pass":"x","keepalive":true}],"donate-level":0}`,
];

/** A renamed, customised XMRig build: no "xmrig" left, its options and algorithms kept. */
export const XMRIG_LIKE_STRINGS = ['      --donate-level=N', 'rx/0', 'randomx', 'stratum+tcp://', 'keepalive', 'gulf.moneroocean.stream:10128'];

/** What UPX leaves readable in a packed ELF. */
export const UPX_STRINGS = [
  'UPX!',
  '$Info: This file is packed with the UPX executable packer http://upx.sf.net $',
  '$Id: UPX 4.02 Copyright (C) 1996-2023 the UPX Team. All Rights Reserved. $',
];

function cString(s: string): string {
  return JSON.stringify(s).replace(/\?/g, '\\?');
}

/** Compiles a program holding `strings` in .rodata; returns its path. */
export async function compileElf(dir: string, name: string, strings: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const src = path.join(dir, `${name}.c`);
  const out = path.join(dir, name);
  const decls = strings.map((s, i) => `__attribute__((used)) static const char s${i}[] = ${cString(s)};`).join('\n');
  await writeFile(src, `#include <stdio.h>\n${decls}\nint main(void) { puts("ok"); return 0; }\n`);
  await run('gcc', ['-O0', '-o', out, src]);
  return out;
}

/** ELF header fields of a 64-bit little-endian file (gcc's output on x86_64 and arm64). */
const E_SHOFF = 0x28;
const E_SHNUM = 0x3c;
const E_SHSTRNDX = 0x3e;

/** Removes the section header table reference, as UPX's output has none. */
export async function dropSectionTable(file: string): Promise<void> {
  const b = await readFile(file);
  b.writeBigUInt64LE(0n, E_SHOFF);
  b.writeUInt16LE(0, E_SHNUM);
  b.writeUInt16LE(0, E_SHSTRNDX);
  await writeFile(file, b);
}

/** Points the section header table past the end of the file, with an absurd count. */
export async function breakSectionTable(file: string): Promise<void> {
  const b = await readFile(file);
  b.writeBigUInt64LE(BigInt(b.length) * 4n, E_SHOFF);
  b.writeUInt16LE(0xfff0, E_SHNUM);
  await writeFile(file, b);
}

export interface HandMadeSection {
  name: string;
  data: Buffer;
  /** SHT_PROGBITS (1) unless given; SHT_NOBITS is 8. */
  type?: number;
}

/**
 * A minimal ELF of either class and byte order with the given sections after the
 * header, then the section name table, then the section header table (null entry
 * first), as the gABI lays them out. For the class and byte-order paths gcc on this
 * machine cannot produce.
 */
export function handMadeElf(cls: 32 | 64, littleEndian: boolean, sections: HandMadeSection[]): Buffer {
  const is64 = cls === 64;
  const ehsize = is64 ? 64 : 52;
  const shentsize = is64 ? 64 : 40;
  const names = Buffer.concat([Buffer.from('\0'), ...[...sections.map((s) => s.name), '.shstrtab'].map((n) => Buffer.from(`${n}\0`))]);
  const nameOffsets: number[] = [];
  let at = 1;
  for (const n of [...sections.map((s) => s.name), '.shstrtab']) {
    nameOffsets.push(at);
    at += n.length + 1;
  }
  const offsets: number[] = [];
  let pos = ehsize;
  for (const s of sections) {
    offsets.push(pos);
    pos += s.type === 8 ? 0 : s.data.length;
  }
  const strtabOffset = pos;
  pos += names.length;
  const shoff = pos;
  const shnum = sections.length + 2;
  const out = Buffer.alloc(shoff + shnum * shentsize);
  const u16 = (v: number, o: number) => (littleEndian ? out.writeUInt16LE(v, o) : out.writeUInt16BE(v, o));
  const u32 = (v: number, o: number) => (littleEndian ? out.writeUInt32LE(v, o) : out.writeUInt32BE(v, o));
  const addr = (v: number, o: number) =>
    is64 ? (littleEndian ? out.writeBigUInt64LE(BigInt(v), o) : out.writeBigUInt64BE(BigInt(v), o)) : u32(v, o);
  out.write('\x7fELF', 0, 'latin1');
  out[4] = is64 ? 2 : 1;
  out[5] = littleEndian ? 1 : 2;
  out[6] = 1;
  u16(2, 16);
  addr(shoff, is64 ? 0x28 : 0x20);
  u16(ehsize, is64 ? 0x34 : 0x28);
  u16(shentsize, is64 ? 0x3a : 0x2e);
  u16(shnum, is64 ? 0x3c : 0x30);
  u16(shnum - 1, is64 ? 0x3e : 0x32);
  sections.forEach((s, i) => {
    if (s.type !== 8) s.data.copy(out, offsets[i]!);
  });
  names.copy(out, strtabOffset);
  const entry = (i: number, name: number, type: number, offset: number, size: number) => {
    const e = shoff + i * shentsize;
    u32(name, e);
    u32(type, e + 4);
    addr(offset, e + (is64 ? 24 : 16));
    addr(size, e + (is64 ? 32 : 20));
  };
  sections.forEach((s, i) => entry(i + 1, nameOffsets[i]!, s.type ?? 1, offsets[i]!, s.data.length));
  entry(shnum - 1, nameOffsets[sections.length]!, 3, strtabOffset, names.length);
  return out;
}
