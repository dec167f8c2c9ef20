/**
 * Windows shell links (.lnk), MS-SHLLINK: what a shortcut in a Startup folder starts. The
 * ShellLinkHeader (0x4C bytes, its CLSID and LinkFlags), the LinkTargetIDList (skipped by
 * its size: the shell items name the same target the LinkInfo does), the LinkInfo (local
 * base path and common path suffix, ANSI or Unicode, or a network share's name), the
 * StringData (name, relative path, working directory, arguments, icon location; UTF-16
 * when IsUnicode is set) and the ExtraData blocks (the EnvironmentVariableDataBlock's
 * target such as %windir%\system32\cmd.exe; the others are walked over by their sizes).
 *
 * Every size, count and offset is checked against the file (BinaryView), strings are
 * bounded, the ExtraData walk stops after MAX_BLOCKS; failures are typed `corrupt`.
 */
import { BinaryView } from '../../../mountfs/binary.js';
import { corrupt } from '../../../mountfs/errors.js';

export interface ShellLink {
  /** The target as a path: LinkInfo's local path, else the network path, else the environment block's. */
  target?: string;
  localPath?: string;
  networkPath?: string;
  /** EnvironmentVariableDataBlock: the target with variables (%windir%\...). */
  environmentTarget?: string;
  name?: string;
  relativePath?: string;
  workingDirectory?: string;
  arguments?: string;
  iconLocation?: string;
  /** 1 normal, 3 maximised, 7 minimised (SW_SHOWMINNOACTIVE): a dropper's shortcut often starts minimised. */
  showCommand: number;
}

const STRUCTURE = 'shell link';
const HEADER_SIZE = 0x4c;
const CLSID = '0114020000000000c000000000000046';
const MAX_BLOCKS = 64;
/** Characters of one StringData string: the format allows 65535; more is no shortcut. */
const MAX_STRING_CHARS = 0xffff;

const F = { idList: 0x1, linkInfo: 0x2, name: 0x4, relativePath: 0x8, workingDir: 0x10, arguments: 0x20, icon: 0x40, unicode: 0x80 } as const;
const ENVIRONMENT_BLOCK = 0xa0000001;

export function isShellLink(bytes: Buffer): boolean {
  return bytes.length >= HEADER_SIZE && bytes.readUInt32LE(0) === HEADER_SIZE && bytes.subarray(4, 20).toString('hex') === CLSID;
}

export function parseShellLink(bytes: Buffer): ShellLink {
  const view = new BinaryView(bytes, STRUCTURE);
  if (!isShellLink(bytes)) throw corrupt(STRUCTURE, 'no ShellLinkHeader (size 0x4C and the shell link CLSID)', 0);
  const flags = view.u32le(20);
  const link: ShellLink = { showCommand: view.u32le(60) };
  let at = HEADER_SIZE;
  if (flags & F.idList) at += 2 + view.u16le(at);
  if (flags & F.linkInfo) {
    const size = view.u32le(at);
    if (size < 0x1c) throw corrupt('shell link LinkInfo', `LinkInfoSize ${size} is smaller than its header`, at);
    readLinkInfo(view.slice(at, size, 'shell link LinkInfo'), link);
    at += size;
  }
  const unicode = (flags & F.unicode) !== 0;
  const str = (): string => {
    const chars = view.u16le(at);
    if (chars > MAX_STRING_CHARS) throw corrupt('shell link StringData', `${chars} characters`, at);
    const length = unicode ? chars * 2 : chars;
    const s = view.bytes(at + 2, length).toString(unicode ? 'utf16le' : 'latin1');
    at += 2 + length;
    return s;
  };
  if (flags & F.name) link.name = str();
  if (flags & F.relativePath) link.relativePath = str();
  if (flags & F.workingDir) link.workingDirectory = str();
  if (flags & F.arguments) link.arguments = str();
  if (flags & F.icon) link.iconLocation = str();
  for (let n = 0; n < MAX_BLOCKS && at + 4 <= bytes.length; n++) {
    const size = view.u32le(at);
    if (size < 4) break;
    if (size < 8) throw corrupt('shell link ExtraData block', `BlockSize ${size} is smaller than its header`, at);
    const block = view.slice(at, size, 'shell link ExtraData block');
    if (block.u32le(4) === ENVIRONMENT_BLOCK && size >= 8 + 260 + 520) {
      const wide = cstring16(block.bytes(8 + 260, 520));
      link.environmentTarget = wide || block.cstring(8, 260, 'latin1');
    }
    at += size;
  }
  const target = link.localPath ?? link.networkPath ?? link.environmentTarget;
  if (target) link.target = target;
  return link;
}

function readLinkInfo(info: BinaryView, link: ShellLink): void {
  const headerSize = info.u32le(4);
  const infoFlags = info.u32le(8);
  const unicodeOffsets = headerSize >= 0x24;
  const suffix = unicodeOffsets && info.u32le(0x20) ? cstring16At(info, info.u32le(0x20)) : cstringAt(info, info.u32le(0x18));
  if (infoFlags & 0x1) {
    const base = unicodeOffsets && info.u32le(0x1c) ? cstring16At(info, info.u32le(0x1c)) : cstringAt(info, info.u32le(0x10));
    link.localPath = joinSuffix(base, suffix);
  }
  if (infoFlags & 0x2) {
    const netOffset = info.u32le(0x14);
    const net = info.slice(netOffset, Math.min(info.u32le(netOffset), info.length - netOffset), 'shell link CommonNetworkRelativeLink');
    const nameOffset = net.u32le(8);
    const name = nameOffset > 0x14 && net.length >= 0x1c && net.u32le(0x14) ? cstring16At(net, net.u32le(0x14)) : cstringAt(net, nameOffset);
    link.networkPath = joinSuffix(name, suffix);
  }
}

function joinSuffix(base: string, suffix: string): string {
  if (!suffix) return base;
  return base.endsWith('\\') ? base + suffix : `${base}\\${suffix}`;
}

function cstringAt(view: BinaryView, offset: number): string {
  if (offset === 0) return '';
  inside(view, offset);
  return view.cstring(offset, view.length - offset, 'latin1');
}

function cstring16At(view: BinaryView, offset: number): string {
  inside(view, offset);
  return cstring16(view.bytes(offset, (view.length - offset) & ~1));
}

function inside(view: BinaryView, offset: number): void {
  if (offset >= view.length) throw corrupt(view.structure, `string offset ${offset} is past the ${view.length}-byte structure`, view.baseOffset);
}

function cstring16(bytes: Buffer): string {
  for (let i = 0; i + 1 < bytes.length; i += 2) if (bytes[i] === 0 && bytes[i + 1] === 0) return bytes.subarray(0, i).toString('utf16le');
  return bytes.toString('utf16le');
}
