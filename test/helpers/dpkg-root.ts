/**
 * Builds dpkg databases with the real tools for the dpkg reader and integrity tests:
 * tiny packages made with dpkg-deb, installed into a scratch root with dpkg --root,
 * diverted with dpkg-divert and given alternatives with update-alternatives, so the
 * files minescan reads are the ones dpkg itself wrote.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const run = promisify(execFile);

export interface DebFile {
  /** Absolute path inside the package. */
  path: string;
  content: string | Buffer;
  mode?: number;
  conffile?: boolean;
}

export interface DebSpec {
  name: string;
  /** "amd64" with multiArchSame gives info files named <name>:amd64.*. */
  architecture?: string;
  multiArchSame?: boolean;
  files: DebFile[];
  /** Conffiles the package no longer ships, listed `remove-on-upgrade /path` (deb-conffiles(5)). */
  removeOnUpgrade?: string[];
}

/** An empty dpkg admin directory under root, as debootstrap leaves it. */
export async function initDpkgRoot(root: string): Promise<void> {
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/alternatives', 'etc/alternatives']) {
    await mkdir(path.join(root, d), { recursive: true });
  }
  await writeFile(path.join(root, 'var/lib/dpkg/status'), '', { flag: 'a' });
}

/** Builds the package with dpkg-deb into workDir and returns the .deb path. */
export async function buildDeb(workDir: string, spec: DebSpec): Promise<string> {
  const tree = path.join(workDir, `${spec.name}-tree`);
  await mkdir(path.join(tree, 'DEBIAN'), { recursive: true });
  const control = [
    `Package: ${spec.name}`,
    'Version: 1.0',
    `Architecture: ${spec.architecture ?? 'all'}`,
    ...(spec.multiArchSame ? ['Multi-Arch: same'] : []),
    'Maintainer: minescan tests <tests@minescan.invalid>',
    'Description: minescan test package',
    '',
  ].join('\n');
  await writeFile(path.join(tree, 'DEBIAN/control'), control);
  const conffiles = [...spec.files.filter((f) => f.conffile).map((f) => f.path), ...(spec.removeOnUpgrade ?? []).map((p) => `remove-on-upgrade ${p}`)];
  if (conffiles.length > 0) await writeFile(path.join(tree, 'DEBIAN/conffiles'), conffiles.join('\n') + '\n');
  for (const f of spec.files) {
    const p = path.join(tree, f.path);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, f.content);
    await chmod(p, f.mode ?? 0o644);
  }
  const deb = path.join(workDir, `${spec.name}.deb`);
  await run('dpkg-deb', ['--root-owner-group', '-b', tree, deb]);
  return deb;
}

/** dpkg -i into the root, without running maintainer scripts in a chroot. */
export async function installDebs(root: string, debs: string[]): Promise<void> {
  await run('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-not-root', '--force-depends', '-i', ...debs]);
}

/** dpkg-divert --rename: the packaged file moves to `to`; `by` is a package name or undefined for --local. */
export async function divert(root: string, file: string, to: string, by?: string): Promise<void> {
  const who = by ? ['--package', by] : ['--local'];
  await run('dpkg-divert', [`--root=${root}`, ...who, '--rename', '--divert', to, '--add', file]);
}

export async function addAlternative(root: string, link: string, name: string, target: string): Promise<void> {
  await run('update-alternatives', ['--root', root, '--install', link, name, target, '10']);
}
