/**
 * Builds the planted-artifact trees and disk images with the scripts in images/, the
 * same ones the demo image comes from, so tests scan what a user would.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEST_CACHE } from './test-cache.js';

const run = promisify(execFile);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const IMAGES = path.join(REPO, 'images');

export async function makeScratchDir(prefix = 'minescan-test-'): Promise<string> {
  // Beside the cache (by default /var/tmp) rather than in /tmp: /tmp may be tmpfs, which keeps no inode flags.
  await mkdir(TEST_CACHE, { recursive: true });
  return mkdtemp(path.join(TEST_CACHE, prefix));
}

export async function removeScratchDir(dir: string): Promise<void> {
  await run('chattr', ['-R', '-ia', dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

/** Writes the infected (or, with clean, the clean) tree of images/plant-infection.sh. */
export async function plantTree(dir: string, clean = false): Promise<string> {
  await run(path.join(IMAGES, 'plant-infection.sh'), clean ? [dir, '--clean'] : [dir]);
  return dir;
}

/** The files plant-infection.sh's attacker made immutable. */
export const IMMUTABLE_LIST = path.join(IMAGES, 'infected-immutable.list');

export interface BuildImageOptions {
  table: 'gpt' | 'mbr' | 'none';
  sizeMiB?: number;
  immutable?: string;
  mkfsOpts?: string;
}

export async function buildImage(root: string, out: string, options: BuildImageOptions): Promise<string> {
  const args = [root, out, '--table', options.table, '--size-mib', String(options.sizeMiB ?? 16)];
  if (options.immutable) args.push('--immutable', options.immutable);
  if (options.mkfsOpts) args.push('--mkfs-opts', options.mkfsOpts);
  await run(path.join(IMAGES, 'build-image.sh'), args, { maxBuffer: 16 << 20 });
  return out;
}

/** Applies chattr +i to the listed paths under a host tree (the directory source reads them back with lsattr). */
export async function lockFiles(root: string, paths: string[]): Promise<void> {
  for (const p of paths) await run('chattr', ['+i', path.join(root, p)]);
}

