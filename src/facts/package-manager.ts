/**
 * Which package tools the scanned root uses, and the one place every reinstall, verify
 * and owner-lookup command minescan tells an operator to run is built. A finding on a
 * Fedora root must say `dnf reinstall`, on CentOS 7 `yum reinstall`, on openSUSE
 * `zypper install --force`, on Alpine `apk fix`, on Debian `apt-get install --reinstall`.
 *
 * The root says which it is in /etc/os-release (ID, ID_LIKE: os-release(5)); between
 * dnf and yum, and when os-release is missing, the tools present in the image decide;
 * with neither, the package database found (dpkg → apt, RPM → dnf). A root that says
 * nothing at all gets commands for both families.
 */
import type { Vfs } from '../../mountfs/vfs.js';
import { shellQuote } from '../rules/ruleset.js';

/** The package format a database records: who owns a file. */
export type PackageFormat = 'dpkg' | 'rpm' | 'apk';
/** The tool an operator installs packages with on that root. */
export type PackageFrontEnd = 'apt' | 'dnf' | 'yum' | 'zypper' | 'apk';

const OS_RELEASE = ['/etc/os-release', '/usr/lib/os-release'];
/** Tool paths the root is probed for, in order of preference when os-release says nothing. */
const TOOLS: Array<[PackageFrontEnd, string[]]> = [
  ['apt', ['/usr/bin/apt-get']],
  ['dnf', ['/usr/bin/dnf', '/usr/bin/dnf5', '/usr/bin/microdnf']],
  ['yum', ['/usr/bin/yum']],
  ['zypper', ['/usr/bin/zypper']],
  ['apk', ['/sbin/apk', '/usr/sbin/apk', '/bin/apk', '/usr/bin/apk']],
];
/** What detection reads, for single-pass sources. */
export const PACKAGE_MANAGER_PATHS = [...OS_RELEASE, ...TOOLS.flatMap(([, paths]) => paths)];
/** os-release is a few hundred bytes; a bigger one is not read further. */
const MAX_OS_RELEASE = 64 * 1024;

const FORMAT: Record<PackageFrontEnd, PackageFormat> = { apt: 'dpkg', dnf: 'rpm', yum: 'rpm', zypper: 'rpm', apk: 'apk' };

/** The reinstall, verify and owner-lookup commands for one root. */
export class PackageCommands {
  /** `frontEnd` undefined: the root did not say; commands then cover dpkg and RPM systems. */
  constructor(readonly frontEnd: PackageFrontEnd | undefined) {}

  /** Puts the packaged files back as the package has them. */
  reinstall(packages: string[], format: PackageFormat = this.format()): string {
    return this.reinstallWords(packages.map(shellQuote).join(' '), format);
  }

  /** The line of a fix that puts a packaged file back, saying why. */
  restore(owner: { package: string; manager: PackageFormat }, path: string, what = 'file'): string {
    return `${this.reinstall([owner.package], owner.manager)}   # ${path} belongs to ${owner.package}: this restores the packaged ${what}`;
  }

  /** Compares the rest of the packages' files with what they recorded. */
  verify(packages: string[], format: PackageFormat = this.format()): string {
    const names = packages.map(shellQuote).join(' ');
    switch (format) {
      case 'dpkg':
        return `debsums -c ${names}   (or: dpkg --verify ${names})`;
      case 'apk':
        return `apk audit --system`;
      case 'rpm':
        return `rpm -V ${names}`;
    }
  }

  /** Names the package that owns the path, on the running system. */
  ownerQuery(path: string): string {
    const q = shellQuote(path);
    switch (this.frontEnd) {
      case undefined:
        return `dpkg -S ${q} || rpm -qf ${q}`;
      case 'apt':
        return `dpkg -S ${q}`;
      case 'apk':
        return `apk info --who-owns ${q}`;
      default:
        return `rpm -qf ${q}`;
    }
  }

  /** Reinstalls whatever package owns the path, when minescan could not tell which one it is. */
  reinstallOwnerOf(path: string): string {
    const q = shellQuote(path);
    const apt = `apt-get install --reinstall "$(dpkg -S ${q} | cut -d: -f1)"`;
    switch (this.frontEnd) {
      case undefined:
        return `${apt}   # RPM-based systems: dnf reinstall "$(rpm -qf ${q})"`;
      case 'apt':
        return apt;
      case 'apk':
        return this.reinstallWords(`"$(apk info --who-owns ${q} | sed 's/.* is owned by //')"`, 'apk');
      default:
        return this.reinstallWords(`"$(rpm -qf ${q})"`, 'rpm');
    }
  }

  /** `names` already shell words. */
  private reinstallWords(names: string, format: PackageFormat): string {
    switch (format) {
      case 'dpkg':
        return `apt-get install --reinstall ${names}`;
      case 'apk':
        return `apk fix --reinstall ${names}`;
      case 'rpm':
        return this.frontEnd === 'yum' ? `yum reinstall ${names}` : this.frontEnd === 'zypper' ? `zypper install --force ${names}` : `dnf reinstall ${names}`;
    }
  }

  private format(): PackageFormat {
    return this.frontEnd ? FORMAT[this.frontEnd] : 'dpkg';
  }
}

/** The root's front end: os-release first, then the tools in the image, then the databases found. */
export async function detectFrontEnd(vfs: Vfs, databaseFormats: readonly PackageFormat[]): Promise<PackageFrontEnd | undefined> {
  const has = async (paths: string[]) => {
    for (const p of paths) if (await vfs.exists(p).catch(() => false)) return true;
    return false;
  };
  const ids = await osReleaseIds(vfs);
  const family = familyOf(ids);
  if (family === 'rpm') {
    if (await has(TOOLS[1]![1])) return 'dnf';
    if (await has(TOOLS[2]![1])) return 'yum';
    return 'dnf';
  }
  if (family) return family;
  for (const [frontEnd, paths] of TOOLS) if (await has(paths)) return frontEnd;
  if (databaseFormats.includes('dpkg')) return 'apt';
  if (databaseFormats.includes('rpm')) return 'dnf';
  if (databaseFormats.includes('apk')) return 'apk';
  return undefined;
}

function familyOf(ids: string[]): 'apt' | 'apk' | 'zypper' | 'rpm' | undefined {
  for (const id of ids) {
    if (id === 'debian' || id === 'ubuntu') return 'apt';
    if (id === 'alpine') return 'apk';
    if (id === 'suse' || id === 'opensuse' || id.startsWith('opensuse-') || id === 'sles') return 'zypper';
    if (['fedora', 'rhel', 'centos', 'rocky', 'almalinux', 'amzn', 'ol', 'alinux', 'anolis', 'openeuler'].includes(id)) return 'rpm';
  }
  return undefined;
}

/** ID then ID_LIKE of os-release, lower case; empty when the root has none. */
async function osReleaseIds(vfs: Vfs): Promise<string[]> {
  for (const path of OS_RELEASE) {
    let text: string;
    try {
      text = (await vfs.readFile(path, { maxBytes: MAX_OS_RELEASE })).toString('utf8');
    } catch {
      continue;
    }
    const field = (name: string) => {
      const m = new RegExp(`^${name}=(.*)$`, 'm').exec(text);
      return m ? m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2').toLowerCase() : '';
    };
    return [field('ID'), ...field('ID_LIKE').split(/\s+/)].filter((s) => s !== '');
  }
  return [];
}
