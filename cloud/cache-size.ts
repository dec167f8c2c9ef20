/**
 * The memory a cloud snapshot's block cache may hold (`--cache-size`, or
 * MINESCAN_CACHE_SIZE): every block a scan fetches costs a request, so the budget
 * decides how often a block is fetched twice. Per target, shared by its disks.
 */
import { DEFAULT_CACHE_BYTES } from './aws/ebs-snapshot-source.js';

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/** "256M", "1G", "512k", "64MiB", "1048576" → bytes; unset: MINESCAN_CACHE_SIZE, else 256 MiB. */
export function parseCacheSize(text: string | undefined = process.env.MINESCAN_CACHE_SIZE): number {
  if (text === undefined || text.trim() === '') return DEFAULT_CACHE_BYTES;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`cache size "${text}" is not a size like 256M or 1G`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (bytes < 1) throw new Error(`cache size "${text}" is too small`);
  return bytes;
}
