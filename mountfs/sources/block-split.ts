/**
 * Reads of block-mapped disk formats (VHD, VHDX), split at block boundaries so each
 * piece lies in one block and is fetched by the format's own block reader, in parallel.
 */
export type BlockPieceReader = (block: number, within: number, length: number, out: Buffer, at: number) => Promise<void>;

export async function readAcrossBlocks(offset: number, end: number, blockSize: number, readPiece: BlockPieceReader): Promise<Buffer> {
  const out = Buffer.alloc(end - offset);
  const pieces: Promise<void>[] = [];
  for (let pos = offset; pos < end; ) {
    const within = pos % blockSize;
    const n = Math.min(blockSize - within, end - pos);
    pieces.push(readPiece(Math.floor(pos / blockSize), within, n, out, pos - offset));
    pos += n;
  }
  await Promise.all(pieces);
  return out;
}
