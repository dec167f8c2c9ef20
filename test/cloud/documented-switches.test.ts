/**
 * The environment variables the cloud code, the fleet and the cloud commands read are
 * how people run minescan in their own labs (a metadata service or a device folder of
 * their own, shorter polls): each one must be in the README, or nobody can find it.
 */
import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from '../helpers/images.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(full)));
    else if (e.name.endsWith('.ts')) out.push(full);
  }
  return out;
}

describe('documented switches', () => {
  it('every MINESCAN_ variable the cloud code, the fleet and the cloud commands read is in the README', async () => {
    const files = [...(await sources(path.join(REPO, 'cloud'))), ...(await sources(path.join(REPO, 'src/fleet'))), path.join(REPO, 'src/cli/cloud-commands.ts')];
    const read = new Set<string>();
    for (const file of files) for (const m of (await readFile(file, 'utf8')).matchAll(/\bMINESCAN_[A-Z0-9_]+\b/g)) read.add(m[0]);
    expect(read.size).toBeGreaterThan(8);
    const readme = await readFile(path.join(REPO, 'README.md'), 'utf8');
    expect([...read].filter((name) => !readme.includes(`\`${name}\``)).sort()).toEqual([]);
  });
});
