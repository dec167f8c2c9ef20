/**
 * The hosts-file check: /etc/hosts entries that cut a security agent off or pin a mining
 * pool. Format: hosts(5) — an address, then a canonical name and aliases, separated by
 * spaces or tabs; `#` starts a comment.
 *
 * Each name on a line becomes one entry "<class> <address> <name>" for the `hosts`
 * content rules (the address class says whether the address goes anywhere: loopback,
 * unspecified, reserved, private, public; see hosts-file.yaml), and each name alone is
 * matched against the `hosts-domain` name rules. Lines whose address does not parse are
 * ignored, as the resolver ignores them.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Check, CheckContext } from '../model/check.js';
import { textLines } from '../facts/vfs-lines.js';
import type { Rule } from '../rules/types.js';
import { showLine } from './shared/command-remediation.js';
import { unlockCommand } from './shared/unlock.js';
import { readConfigText } from './shared/config-files.js';

const HOSTS = '/etc/hosts';
const CATEGORY = 'tampering/hosts';
/** Ad-blocking hosts files run to a few hundred thousand lines; 16 MiB holds them. */
export const MAX_HOSTS_BYTES = 16 << 20;
/** Names past this on one line are junk; the resolver's own line buffer is smaller. */
const MAX_NAMES_PER_LINE = 64;
const MAX_NAME = 253;

export const hostsFileCheck: Check = {
  id: 'hosts-file',
  persistence: true,
  watched: [{ what: 'hosts file', globs: ['/etc/hosts'] }],
  description: '/etc/hosts entries that block security-agent domains or pin mining pools',
  paths: [HOSTS],
  async run(ctx) {
    const file = await readConfigText(ctx, HOSTS, MAX_HOSTS_BYTES);
    if (!file) return;
    let unlock: Promise<string | undefined> | undefined;
    await judgeHostsFile(ctx, HOSTS, file.text, CATEGORY, async (entry) => {
      unlock ??= unlockCommand(ctx, HOSTS);
      return [await unlock, `sed -i '${entry.line}d' ${HOSTS}   # deletes line ${entry.line}: ${showLine(entry.lineText.trim())}`].filter(Boolean).join('\n');
    });
  },
};

/**
 * The hosts rules over a hosts file's text (the same format on Linux and Windows): one
 * finding per line and rule, naming every host name of the line it fired on. `fix` gives
 * the commands that delete a line.
 */
export async function judgeHostsFile(
  ctx: CheckContext,
  path: string,
  fileText: string,
  category: string,
  fix: (entry: HostsEntry) => Promise<string>,
): Promise<void> {
  const entries = parseHosts(fileText);
  if (entries.length === 0) return;
  const text = entries.map((e) => `${e.addressClass} ${e.address} ${e.name}`).join('\n');
  const hits = new Map<number, Rule[]>();
  for (const hit of ctx.rules.matchLines('hosts', path, text)) hits.set(hit.line - 1, [...(hits.get(hit.line - 1) ?? []), hit.rule]);
  const grouped = new Map<string, { entry: HostsEntry; rule: Rule; names: string[] }>();
  for (const [i, entry] of entries.entries()) {
    for (const rule of [...(hits.get(i) ?? []), ...ctx.rules.matchName('hosts-domain', entry.name)]) {
      const key = `${entry.line} ${rule.id}`;
      const group = grouped.get(key) ?? { entry, rule, names: [] };
      if (!group.names.includes(entry.name)) group.names.push(entry.name);
      grouped.set(key, group);
    }
  }
  for (const { entry, rule, names } of grouped.values()) {
    const vars = { name: names.join(', '), address: entry.address, where: `${path}:${entry.line}`, fix: await fix(entry) };
    ctx.report(ctx.rules.finding(rule, { path, line: entry.line, evidence: entry.lineText.trim(), category, vars }));
  }
}

export type AddressClass = 'loopback' | 'unspecified' | 'reserved' | 'private' | 'public';

export interface HostsEntry {
  line: number;
  lineText: string;
  address: string;
  addressClass: AddressClass;
  /** Lower-case, without a trailing dot. */
  name: string;
}

export function parseHosts(text: string): HostsEntry[] {
  const out: HostsEntry[] = [];
  textLines(text).forEach(({ text: lineText, line: n }) => {
    const fields = lineText.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 2) return;
    const address = fields[0]!.replace(/%.*$/, '');
    const addressClass = classifyAddress(address);
    if (!addressClass) return;
    for (const name of fields.slice(1, 1 + MAX_NAMES_PER_LINE)) {
      if (name.length > MAX_NAME) continue;
      out.push({ line: n, lineText, address, addressClass, name: name.toLowerCase().replace(/\.$/, '') });
    }
  });
  return out;
}

/** Where an address leads, undefined when it is no address. */
export function classifyAddress(address: string): AddressClass | undefined {
  if (isIPv4(address)) return classifyIPv4(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  const words = ipv6Words(address);
  // ::ffff:a.b.c.d carries an IPv4 address.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return classifyIPv4([words[6]! >> 8, words[6]! & 0xff, words[7]! >> 8, words[7]! & 0xff]);
  }
  if (words.every((w) => w === 0)) return 'unspecified';
  if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return 'loopback';
  const first = words[0]!;
  // 100::/64 is the discard prefix, 2001:db8::/32 documentation.
  if ((first === 0x100 && words.slice(1, 4).every((w) => w === 0)) || (first === 0x2001 && words[1] === 0xdb8)) return 'reserved';
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00) return 'private';
  return 'public';
}

function classifyIPv4([a, b, c]: number[]): AddressClass {
  if (a === 127) return 'loopback';
  if (a === 0) return 'unspecified';
  if (a! >= 240 || (a === 192 && b === 0 && c === 2) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return 'reserved';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168) || (a === 100 && b! >= 64 && b! <= 127) || (a === 169 && b === 254)) return 'private';
  return 'public';
}

/** The eight 16-bit words of an IPv6 address (node's isIPv6 accepted it). */
function ipv6Words(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((w) => parseInt(w, 16));
}
