/**
 * VMDK sparse extent grain lookup (VMware Virtual Disk Format 1.1, "Grain Directory
 * and Grain Tables"): grain → grain directory entry → grain table → grain sector.
 * The redundant grain directory is ignored (it is a backup for writers). Directory
 * pages and grain tables are read on demand into the block cache. Every sector taken from a
 * table is checked: inside the file, and not inside the header, the directory or the
 * grain table that names it (a table pointing into itself).
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import type { BlockCache, CacheRegion } from '../../block-cache.js';
import { SECTOR, type SparseHeader } from './sparse-header.js';

const GD_PAGE_BYTES = 4096;
/** Grain table entry meaning a grain of zeros, when the header has the zeroed-grain flag. */
const GTE_ZERO = 1;

export type GrainMapping = { kind: 'unallocated' } | { kind: 'zero' } | { kind: 'grain'; sector: number };

export class GrainTables {
  private readonly gdPages: CacheRegion;
  private readonly tables: CacheRegion;
  private readonly fileSectors: number;
  private readonly gdSector: number;
  private readonly gdSectors: number;
  private readonly gtSectors: number;

  constructor(private readonly inner: ByteSource, private readonly header: SparseHeader, cache: BlockCache) {
    this.gdPages = cache.region('VMDK grain directory pages');
    this.tables = cache.region('VMDK grain tables');
    this.fileSectors = Math.floor(inner.size / SECTOR);
    this.gdSector = header.gdOffset!;
    this.gdSectors = Math.ceil((header.gdEntries * 4) / SECTOR);
    this.gtSectors = Math.ceil((header.numGTEsPerGT * 4) / SECTOR);
    if (header.gdEntries > 0) {
      if (this.gdSector < 1 || (this.gdSector * SECTOR) + header.gdEntries * 4 > inner.size) {
        throw corrupt('VMDK grain directory', `${header.gdEntries} entries at sector ${this.gdSector} do not lie inside the ${inner.size}-byte file`, 56);
      }
    }
  }

  async lookup(grain: number): Promise<GrainMapping> {
    const h = this.header;
    const gdIndex = Math.floor(grain / h.numGTEsPerGT);
    if (gdIndex >= h.gdEntries) return { kind: 'unallocated' };
    const gtSector = await this.directoryEntry(gdIndex);
    if (gtSector === 0) return { kind: 'unallocated' };
    const table = await this.tables.get(gtSector, h.numGTEsPerGT * 4, () => this.readBytes(gtSector * SECTOR, h.numGTEsPerGT * 4, 'VMDK grain table'));
    const entryAt = gtSector * SECTOR + (grain % h.numGTEsPerGT) * 4;
    const sector = table.readUInt32LE((grain % h.numGTEsPerGT) * 4);
    if (sector === 0) return { kind: 'unallocated' };
    if (sector === GTE_ZERO && h.zeroGrains) return { kind: 'zero' };
    const structure = 'VMDK grain table';
    if (sector >= this.fileSectors) throw corrupt(structure, `grain at sector ${sector} is past the end of the ${this.inner.size}-byte file`, entryAt);
    if (sector < Math.max(1, h.overHead)) throw corrupt(structure, `grain at sector ${sector} lies in the metadata area before sector ${Math.max(1, h.overHead)}`, entryAt);
    const grainEnd = sector + (h.compressed ? 1 : h.grainSize);
    if (overlaps(sector, grainEnd, gtSector, gtSector + this.gtSectors)) throw corrupt(structure, `grain at sector ${sector} lies inside the grain table that names it`, entryAt);
    if (overlaps(sector, grainEnd, this.gdSector, this.gdSector + this.gdSectors)) throw corrupt(structure, `grain at sector ${sector} lies inside the grain directory`, entryAt);
    return { kind: 'grain', sector };
  }

  clear(): void {
    this.gdPages.clear();
    this.tables.clear();
  }

  /** The grain table sector of one directory entry (0: none), checked. */
  private async directoryEntry(index: number): Promise<number> {
    const perPage = GD_PAGE_BYTES / 4;
    const page = Math.floor(index / perPage);
    const pageAt = this.gdSector * SECTOR + page * GD_PAGE_BYTES;
    const pageBytes = Math.min(GD_PAGE_BYTES, (this.header.gdEntries - page * perPage) * 4);
    const buf = await this.gdPages.get(page, pageBytes, () => this.readBytes(pageAt, pageBytes, 'VMDK grain directory'));
    const gtSector = buf.readUInt32LE((index % perPage) * 4);
    if (gtSector === 0) return 0;
    const at = this.gdSector * SECTOR + index * 4;
    if (gtSector + this.gtSectors > this.fileSectors) throw corrupt('VMDK grain directory', `grain table at sector ${gtSector} runs past the end of the file`, at);
    return gtSector;
  }

  private async readBytes(at: number, length: number, structure: string): Promise<Buffer> {
    const buf = await this.inner.read(at, length);
    if (buf.length < length) throw corrupt(structure, 'the file ends inside the table', at + buf.length);
    return buf;
  }
}

function overlaps(a0: number, a1: number, b0: number, b1: number): boolean {
  return a0 < b1 && b0 < a1;
}
