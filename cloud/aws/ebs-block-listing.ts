/**
 * The pages of ListSnapshotBlocks, walked without trusting the service to end them: a
 * NextToken that comes back, a block listed twice or past the end of the volume, more
 * empty pages than a listing has reason to send, or more pages than the volume has
 * blocks (its size over its block size) end the walk with a typed MountfsError instead
 * of a read that never ends. Each page's ExpiryTime tells when its tokens are renewed.
 */
import { ListSnapshotBlocksCommand, type EBSClient } from '@aws-sdk/client-ebs';
import { corrupt, limitExceeded } from '../../mountfs/errors.js';
import { withRetries } from '../retry.js';

const STRUCTURE = 'EBS snapshot block listing';
/** Pages without a block that may still carry a NextToken, over one listing. */
const EMPTY_PAGES = 8;
/** A token is renewed this long before its ExpiryTime (or half its lifetime before, when it lives less than twice this). */
const RENEW_BEFORE_MS = 60_000;

export interface ListingGeometry {
  /** Bytes of the volume the snapshot was taken of. */
  size: number;
  blockSize: number;
}

export interface ListingRange {
  /** StartingBlockIndex: list from this block (default: the first). */
  from?: number;
  /** Stop once a block at or past from + span is listed (default: the whole volume). */
  span?: number;
  /** The volume's geometry when already known (a listing again). */
  geometry?: ListingGeometry;
}

/** A listed block's token and when it is renewed (undefined: only once refused). */
export type OnBlock = (index: number, token: string, renewAt: number | undefined) => void;

export async function listSnapshotBlocks(client: EBSClient, snapshotId: string, range: ListingRange, signal: AbortSignal | undefined, onBlock: OnBlock): Promise<ListingGeometry> {
  const from = range.from ?? 0;
  const what = `ListSnapshotBlocks ${snapshotId}${range.from === undefined ? '' : ` from block ${from}`}`;
  const tokensSeen = new Set<string>();
  const listed = new Set<number>();
  let geometry = range.geometry;
  let pages = 0;
  let empty = 0;
  let nextToken: string | undefined;
  do {
    const listedAt = Date.now();
    const page = await withRetries(
      () => client.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: nextToken, MaxResults: range.span === undefined ? 10000 : Math.max(100, Math.min(10000, range.span)), StartingBlockIndex: range.from })),
      what,
      { signal },
    );
    pages++;
    geometry ??= geometryOf(page.VolumeSize, page.BlockSize);
    const volumeBlocks = Math.ceil(geometry.size / geometry.blockSize);
    const due = renewalTime(listedAt, page.ExpiryTime);
    let past = false;
    for (const b of page.Blocks ?? []) {
      if (b.BlockIndex === undefined || !b.BlockToken) continue;
      const index = b.BlockIndex;
      if (!Number.isInteger(index) || index < 0 || index >= volumeBlocks) throw corrupt(STRUCTURE, `${what} names block ${index}, outside the volume's ${volumeBlocks} blocks`);
      if (listed.has(index)) throw corrupt(STRUCTURE, `${what} lists block ${index} twice, on page ${pages}: the listing loops`);
      listed.add(index);
      if (range.span !== undefined && index >= from + range.span) past = true;
      else onBlock(index, b.BlockToken, due);
    }
    nextToken = past ? undefined : page.NextToken;
    if (nextToken === undefined) break;
    if (tokensSeen.has(nextToken)) throw corrupt(STRUCTURE, `${what} gives NextToken ${JSON.stringify(nextToken.slice(0, 40))} again, on page ${pages}: the listing loops`);
    tokensSeen.add(nextToken);
    if (!page.Blocks?.length && ++empty > EMPTY_PAGES) throw limitExceeded(STRUCTURE, `${what} sends page after page without a block (${empty} so far)`);
    // Every page but the empty ones names a block not named before, and the volume has volumeBlocks.
    const maxPages = Math.min(volumeBlocks - from, range.span ?? Infinity) + EMPTY_PAGES;
    if (pages >= maxPages) throw limitExceeded(STRUCTURE, `${what} goes on past ${maxPages} pages, more than a volume of ${volumeBlocks} blocks can need`);
  } while (nextToken);
  return geometry;
}

function geometryOf(volumeGiB: number | undefined, blockSize: number | undefined): ListingGeometry {
  // The API documents 512 KiB blocks; the cache needs a power of two.
  if (!blockSize || blockSize % 512 !== 0 || blockSize > 64 << 20 || (blockSize & (blockSize - 1)) !== 0) throw corrupt('EBS snapshot', `block size ${blockSize} is impossible`);
  if (!volumeGiB || !Number.isInteger(volumeGiB) || volumeGiB < 0 || volumeGiB > 1 << 20) throw corrupt('EBS snapshot', volumeGiB ? `volume size ${volumeGiB} GiB is impossible` : 'the service gave no volume size');
  return { size: volumeGiB * 2 ** 30, blockSize };
}

/**
 * When tokens listed at `listedAt` (by this machine's clock) that expire at `expiry` are
 * renewed: a minute before, or halfway through a shorter life. No renewal ahead of time
 * when the service gives no expiry, or one this clock already sees passed (clocks that
 * differ): a refused token is still listed again then.
 */
function renewalTime(listedAt: number, expiry: Date | undefined): number | undefined {
  const life = expiry ? expiry.getTime() - listedAt : NaN;
  if (!(life > 0)) return undefined;
  return listedAt + life - Math.min(RENEW_BEFORE_MS, life / 2);
}
