/**
 * Which registry hives a Windows root has, opened once per scan and shared by the
 * Windows registry checks: SYSTEM (with the control set Select\Current names), SOFTWARE,
 * and each user profile's NTUSER.DAT, from the SOFTWARE ProfileList (the profiles
 * Windows knows, with their SIDs) and from the Users (or Documents and Settings)
 * folders (profiles a ProfileList entry no longer names, and Default, the template new
 * accounts copy). Windows paths are case-insensitive and a disk may spell
 * `Windows\System32\config` in any case, so every path is looked up one component at a
 * time, comparing names case-insensitively.
 *
 * A hive whose sequence numbers differ was not cleanly written: the newest changes may
 * be only in its transaction logs (.LOG1/.LOG2), which are replayed over it
 * (registry/transaction-log.ts); when the logs beside it hold data none of which could be
 * applied (a damaged log, one written at another time), the hive's reading is reported
 * as incomplete.
 */
import type { Vfs } from '../../../mountfs/vfs.js';
import { MountfsError, isNotFound } from '../../../mountfs/errors.js';
import { Hive, type RegistryKey } from './registry/hive.js';
import type { LogFile } from './registry/transaction-log.js';
import { decodeValue, valueText } from './registry/value-data.js';

export interface HiveFile {
  /** Path of the hive file in the scanned root, as spelled on the disk. */
  path: string;
  hive: Hive;
}

export interface UserHive extends HiveFile {
  /** The profile folder in the scanned root. */
  profile: string;
  /** The profile folder's name: the account name in most cases. */
  user: string;
  /** From the ProfileList, when it names this profile. */
  sid?: string;
}

export interface WindowsHives {
  system?: HiveFile;
  software?: HiveFile;
  /** "ControlSet001": the control set Select\Current names (CurrentControlSet at run time). */
  controlSet?: RegistryKey;
  users: UserHive[];
}

/** Where the machine hives live, relative to the root. */
export const CONFIG_DIR = ['Windows', 'System32', 'config'];
/** Folders whose subfolders are profiles, as Windows Vista+ and XP name them. */
const PROFILE_PARENTS = [['Users'], ['Documents and Settings']];
const PROFILE_LIST = 'Microsoft\\Windows NT\\CurrentVersion\\ProfileList';
/** Profiles read at most: a server has a few dozen. */
const MAX_PROFILES = 512;

/**
 * Globs (case-insensitive, character class per letter) of every file this module may
 * read, for the checks' declared paths.
 */
export const HIVE_GLOBS: string[] = [
  ...['SYSTEM', 'SOFTWARE'].flatMap((h) => [anyCase(`/${CONFIG_DIR.join('/')}/${h}`), anyCase(`/${CONFIG_DIR.join('/')}/${h}.LOG*`)]),
  ...PROFILE_PARENTS.flatMap((p) => [anyCase(`/${p.join('/')}/*/NTUSER.DAT`), anyCase(`/${p.join('/')}/*/NTUSER.DAT.LOG*`)]),
  anyCase('/Windows/ServiceProfiles/*/NTUSER.DAT'),
  anyCase('/Windows/System32/config/systemprofile/NTUSER.DAT'),
];

/** A glob matching the path in any letter case: "/Users" becomes "/[Uu][Ss][Ee][Rr][Ss]". */
export function anyCase(glob: string): string {
  return glob.replace(/[A-Za-z]/g, (c) => `[${c.toUpperCase()}${c.toLowerCase()}]`);
}

const cache = new WeakMap<Vfs, Promise<WindowsHives>>();

/**
 * The hives of the root, opened once per VFS. What cannot be opened (a damaged or
 * truncated hive) and what was not replayed (a dirty hive's logs) goes to onError,
 * with the path; the rest is returned.
 */
export function windowsHives(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<WindowsHives> {
  let p = cache.get(vfs);
  if (!p) {
    p = readHives(vfs, onError);
    cache.set(vfs, p);
  }
  return p;
}

async function readHives(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<WindowsHives> {
  const out: WindowsHives = { users: [] };
  const configDir = await findPath(vfs, CONFIG_DIR);
  if (configDir) {
    out.system = await openHiveAt(vfs, configDir, 'SYSTEM', onError);
    out.software = await openHiveAt(vfs, configDir, 'SOFTWARE', onError);
  }
  if (out.system) {
    try {
      out.controlSet = await currentControlSet(out.system.hive);
    } catch (err) {
      onError(out.system.path, err);
    }
  }
  const seen = new Set<string>();
  const addProfile = async (found: string, sid?: string) => {
    // A profile reached through a junction (Documents and Settings, which every Windows
    // since Vista points at Users) is the same profile: it is read once, where it is.
    const dir = await vfs.realpath(found).catch(() => found);
    const key = dir.toLowerCase();
    if (seen.has(key) || seen.size >= MAX_PROFILES) return;
    seen.add(key);
    const hive = await openHiveAt(vfs, dir, 'NTUSER.DAT', onError);
    if (hive) out.users.push({ ...hive, profile: dir, user: dir.slice(dir.lastIndexOf('/') + 1), ...(sid ? { sid } : {}) });
  };
  if (out.software) {
    try {
      for (const { sid, path } of await profileList(out.software.hive)) {
        const dir = await findPath(vfs, windowsPathParts(path));
        if (dir) await addProfile(dir, sid);
      }
    } catch (err) {
      onError(out.software.path, err);
    }
  }
  for (const parent of PROFILE_PARENTS) {
    const dir = await findPath(vfs, parent);
    if (!dir) continue;
    for (const e of await vfs.readdir(dir).catch(() => [])) {
      if (e.type === 'directory') await addProfile(`${dir === '/' ? '' : dir}/${e.name}`);
    }
  }
  return out;
}

/** The control set Select\Current names, else Select\Default, else ControlSet001. */
export async function currentControlSet(system: Hive): Promise<RegistryKey | undefined> {
  const select = await system.openKey('Select');
  for (const name of ['Current', 'Default']) {
    const v = select ? await system.value(select, name) : undefined;
    if (!v) continue;
    const d = await system.decoded(v);
    if (d.kind === 'number' && Number(d.value) > 0 && Number(d.value) < 1000) {
      const key = await system.openKey(`ControlSet${String(d.value).padStart(3, '0')}`);
      if (key) return key;
    }
  }
  return system.openKey('ControlSet001');
}

/** SIDs and profile paths (as Windows wrote them: "%SystemDrive%\Users\alice") of the ProfileList. */
export async function profileList(software: Hive): Promise<{ sid: string; path: string }[]> {
  const list = await software.openKey(PROFILE_LIST);
  if (!list) return [];
  const out: { sid: string; path: string }[] = [];
  for (const key of (await software.subkeys(list)).slice(0, MAX_PROFILES)) {
    const v = await software.value(key, 'ProfileImagePath');
    if (v) out.push({ sid: key.name, path: valueText(decodeValue(v.type, await software.data(v))) });
  }
  return out;
}

/**
 * The components of a Windows path on the system drive, as the scanned root holds
 * them: "C:\Users\alice" and "%SystemDrive%\Users\alice" give ["Users", "alice"],
 * "%SystemRoot%\System32" ["Windows", "System32"]. Paths on other drives or shares
 * give [] (the scanned root is the system volume).
 */
export function windowsPathParts(path: string): string[] {
  let p = path.trim().replace(/^"|"$/g, '').replace(/^\\\\\?\\|^\\\?\?\\/, '');
  p = p.replace(/^%SystemDrive%/i, '').replace(/^%(?:SystemRoot|windir)%/i, '\\Windows').replace(/^\\SystemRoot(?=\\|$)/i, '\\Windows');
  if (/^[A-Za-z]:/.test(p)) p = p.slice(2);
  else if (!p.startsWith('\\') || p.startsWith('\\\\')) return [];
  return p.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
}

/** The path of the root entry whose components match `parts` case-insensitively, as the disk spells it. */
export async function findPath(vfs: Vfs, parts: string[]): Promise<string | undefined> {
  let dir = '/';
  for (const part of parts) {
    if (part === '..') return undefined;
    let entries;
    try {
      entries = await vfs.readdir(dir);
    } catch {
      return undefined;
    }
    const want = part.toLowerCase();
    const hit = entries.find((e) => e.name === part) ?? entries.find((e) => e.name.toLowerCase() === want);
    if (!hit) return undefined;
    dir = `${dir === '/' ? '' : dir}/${hit.name}`;
  }
  return dir;
}

async function openHiveAt(vfs: Vfs, dir: string, name: string, onError: (path: string, err: unknown) => void): Promise<HiveFile | undefined> {
  const path = await findPath(vfs, [...dir.split('/').filter(Boolean), name]);
  if (!path) return undefined;
  try {
    const stat = await vfs.stat(path);
    if (stat.type !== 'file') return undefined;
    const logs = await logFiles(vfs, dir, name);
    const hive = await Hive.open((offset, length) => vfs.readFile(path, { offset, maxBytes: length }), stat.size, path, logs);
    if (hive.dirty && logs.length > 0) reportUnreplayedLogs(hive, logs, onError);
    return { path, hive };
  } catch (err) {
    if (!isNotFound(err)) onError(path, err);
    return undefined;
  }
}

/** The hive's .LOG1 and .LOG2 (.LOG on old systems) that hold data, in the order they are replayed. */
async function logFiles(vfs: Vfs, dir: string, name: string): Promise<LogFile[]> {
  const out: LogFile[] = [];
  for (const suffix of ['.LOG1', '.LOG2', '.LOG']) {
    const log = await findPath(vfs, [...dir.split('/').filter(Boolean), name + suffix]);
    const stat = log ? await vfs.stat(log).catch(() => undefined) : undefined;
    if (!log || stat?.type !== 'file' || stat.size === 0) continue;
    out.push({ read: (offset, length) => vfs.readFile(log, { offset, maxBytes: length }), size: stat.size, label: log });
  }
  return out;
}

/** A dirty hive whose logs hold data none of which could be applied: the newest changes were not read. */
function reportUnreplayedLogs(hive: Hive, logs: LogFile[], onError: (path: string, err: unknown) => void): void {
  const { primarySequence, secondarySequence } = hive.baseBlock;
  onError(
    hive.label,
    new MountfsError(
      'unsupported',
      'registry transaction log',
      `the hive was not cleanly written (sequence numbers ${primarySequence} and ${secondarySequence}) and its logs ${logs.map((l) => l.label).join(', ')} could not be replayed (${hive.logNotes.join('; ')}): its newest changes may be missing`,
    ),
  );
}
