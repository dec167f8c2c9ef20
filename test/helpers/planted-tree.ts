/**
 * Writes a planted root for check tests with node fs: files (text or bytes, with a mode)
 * and symlinks, one at a time or a whole table, and binary junk for hostile trees; plus
 * a collector check that captures what the persistence checks recorded as started.
 */
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Check, StartedFile } from '../../src/model/check.js';

export type PlantedFile = string | Buffer | { content: string | Buffer; mode: number };

export async function plantFiles(root: string, files: Record<string, PlantedFile>, links: [link: string, target: string][] = []): Promise<void> {
  for (const [rel, spec] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    const { content, mode } = typeof spec === 'string' || Buffer.isBuffer(spec) ? { content: spec, mode: 0o644 } : spec;
    await writeFile(file, content);
    await chmod(file, mode);
  }
  for (const [rel, target] of links) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await symlink(target, path.join(root, rel));
  }
}

/** Writes one file of a planted root, its directories too; the mode is set only when given. */
export async function put(root: string, rel: string, content: string | Buffer, mode?: number): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  if (mode !== undefined) await chmod(file, mode);
}

/** Bytes of every value in a fixed scramble: binary junk for hostile files, the same on every run. */
export function junkBytes(length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i * 7919) % 256));
}

export function startedCollector(): { check: Check; started: StartedFile[] } {
  const started: StartedFile[] = [];
  return {
    started,
    check: { id: 'collect-started', description: 'test helper', phase: 'combine', paths: [], run: async (ctx) => void started.push(...ctx.startedFiles()) },
  };
}
