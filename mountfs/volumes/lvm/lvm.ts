/**
 * LVM2 volume groups found on a set of byte sources (partitions or whole disks): each
 * PV's label and metadata areas are read, the newest copy of each VG's metadata (highest
 * seqno across its PVs) is parsed, and every logical volume is listed. Linear and
 * striped LVs (and "zero" segments) become byte sources that map LV offsets through
 * their segments onto the PVs, as device-mapper's linear and striped targets do;
 * thin, snapshot, raid, mirror, cache and VDO volumes are listed with the reason they
 * are not read. Formats: LVM2 source (lib/format_text, lib/label), dm-stripe mapping.
 */
import { corrupt, MountfsError, within } from '../../errors.js';
import type { ByteSource } from '../../sources/byte-source.js';
import { formatPvUuid, readPvLabel, SECTOR, type PvLabel } from './label.js';
import { readMetadataArea } from './metadata-area.js';
import { parseMetadataText } from './metadata-text.js';
import { readVolumeGroup, type LvSegment, type VgLv, type VolumeGroupMetadata } from './layout.js';
import { applyPlan, planOverlaps } from '../overlaps.js';
import { lastStartingBy } from '../../sorted-starts.js';

export { hasLvmLabel } from './label.js';
export type { LvSegment } from './layout.js';

export interface LvmLogicalVolume {
  vg: string;
  name: string;
  /** Bytes. */
  size: number;
  segments: LvSegment[];
  /** Not VISIBLE in the metadata: an internal part of another LV (thin pool data, raid image, ...). */
  hidden: boolean;
  /** The LV's bytes, when minescan can read them. */
  source?: ByteSource;
  notScannedReason?: string;
  /**
   * Not read, but nothing a scan needs is in it: an error segment has no data, and a
   * thin pool's blocks belong to its thin volumes, which are listed (and reported as
   * not read) on their own.
   */
  holdsNoData?: boolean;
  /** "LV vg/other" when this LV's bytes are the first bytes of that one's: listed, not scanned again. */
  aliasOf?: string;
  /** Why a readable LV is not opened (the cap on overlapping volumes). */
  skipReason?: string;
  /** Sectors shared with another LV. */
  notes?: string[];
}

export interface LvmPhysicalVolume {
  /** UUID as LVM prints it (with dashes). */
  uuid: string;
  description: string;
  /** The VG whose metadata lists this PV, when one does. */
  vg?: string;
}

export interface LvmVolumeGroup {
  name: string;
  id: string;
  seqno: number;
  /** Extent size in bytes. */
  extentSize: number;
  /** PVs the metadata lists, and whether each was among the sources. */
  pvs: Array<{ key: string; uuid: string; found: boolean }>;
}

export interface LvmLayout {
  physicalVolumes: LvmPhysicalVolume[];
  volumeGroups: LvmVolumeGroup[];
  logicalVolumes: LvmLogicalVolume[];
  /** Damage that did not stop the rest from being read but may hide volumes: a bad label, a damaged metadata copy. */
  warnings: MountfsError[];
  /** What costs nothing: PVs holding older copies of metadata that a newer copy replaces. */
  notes: string[];
}

interface FoundPv {
  source: ByteSource;
  label: PvLabel;
}

export async function detectLvm(pvs: ByteSource[]): Promise<LvmLayout> {
  const warnings: MountfsError[] = [];
  const found = new Map<string, FoundPv>();
  for (const source of pvs) {
    let label: PvLabel | null;
    try {
      label = await readPvLabel(source);
    } catch (err) {
      if (!(err instanceof MountfsError) || err.kind === 'io') throw err;
      warnings.push(within(source.description, err, 'not used as an LVM PV'));
      continue;
    }
    if (!label) continue;
    if (found.has(label.uuid)) {
      const message = `PV ${formatPvUuid(label.uuid)} was already found on ${found.get(label.uuid)!.source.description}; the first is used`;
      warnings.push(within(source.description, corrupt('LVM PV label', message, label.sector * SECTOR)));
      continue;
    }
    found.set(label.uuid, { source, label });
  }

  const notes: string[] = [];
  const groups = await newestMetadata([...found.values()], warnings, notes);
  const layout: LvmLayout = { physicalVolumes: [], volumeGroups: [], logicalVolumes: [], warnings, notes };
  const pvVg = new Map<string, string>();
  for (const vg of groups) {
    const pvList = [...vg.pvs.values()].map((p) => ({ key: p.key, uuid: formatPvUuid(p.uuid), found: found.has(p.uuid) }));
    for (const p of vg.pvs.values()) if (found.has(p.uuid)) pvVg.set(p.uuid, vg.name);
    layout.volumeGroups.push({ name: vg.name, id: vg.id, seqno: vg.seqno, extentSize: vg.extentSize * SECTOR, pvs: pvList });
    layout.logicalVolumes.push(...mapLogicalVolumes(vg, found));
  }
  warnings.push(...markSharedExtents(layout.logicalVolumes));
  for (const [uuid, pv] of found) {
    const vg = pvVg.get(uuid);
    layout.physicalVolumes.push({ uuid: formatPvUuid(uuid), description: pv.source.description, ...(vg ? { vg } : {}) });
    if (!vg && pv.label.metadataAreas.length > 0) {
      const area = pv.label.metadataAreas[0]!;
      warnings.push(within(pv.source.description, corrupt('LVM metadata area', `PV ${formatPvUuid(uuid)} belongs to no volume group that could be read`, area.offset)));
    }
  }
  return layout;
}

/** Reads every metadata copy on every PV and keeps, per VG id, the one with the highest seqno. */
async function newestMetadata(pvs: FoundPv[], warnings: MountfsError[], notes: string[]): Promise<VolumeGroupMetadata[]> {
  const parsed = new Map<string, VolumeGroupMetadata | null>();
  const best = new Map<string, { vg: VolumeGroupMetadata; where: string }>();
  const seqnos = new Map<string, Set<number>>();
  for (const pv of pvs) {
    for (const area of pv.label.metadataAreas) {
      const where = `${pv.source.description} metadata area at ${area.offset}`;
      try {
        const copy = await readMetadataArea(pv.source, area);
        if (!copy) continue;
        // The same text is usually on every PV of the VG: parse each distinct copy once.
        const key = `${copy.checksum}:${copy.text.length}`;
        let vg = parsed.get(key);
        if (vg === undefined) {
          try {
            vg = readVolumeGroup(parseMetadataText(copy.text));
          } catch (err) {
            parsed.set(key, null);
            throw err;
          }
          parsed.set(key, vg);
        }
        if (vg === null) continue;
        const ids = seqnos.get(vg.id) ?? new Set<number>();
        ids.add(vg.seqno);
        seqnos.set(vg.id, ids);
        const current = best.get(vg.id);
        if (!current || vg.seqno > current.vg.seqno) best.set(vg.id, { vg, where });
      } catch (err) {
        if (!(err instanceof MountfsError) || err.kind === 'io') throw err;
        warnings.push(within(where, err));
      }
    }
  }
  for (const [id, { vg }] of best) {
    const older = [...seqnos.get(id)!].filter((s) => s < vg.seqno);
    if (older.length) notes.push(`VG ${vg.name}: some PVs hold older metadata (seqno ${older.join(', ')}); seqno ${vg.seqno} was used`);
  }
  return [...best.values()].map((b) => b.vg);
}

/**
 * LVs mapped onto the same PV extents (hand-edited metadata: lvm2 never allocates an
 * extent twice) are aliases or overlaps, handled as partitions are (overlaps.ts).
 */
function markSharedExtents(lvs: LvmLogicalVolume[]): MountfsError[] {
  const ids = new Map<ByteSource, number>();
  const id = (s: ByteSource) => ids.get(s) ?? (ids.set(s, ids.size), ids.size - 1);
  const readable = lvs.filter((lv) => lv.source instanceof LvmVolumeSource);
  const plan = planOverlaps(
    readable.map((lv) => ({
      name: `LV ${lv.vg}/${lv.name}`,
      extents: (lv.source as LvmVolumeSource).segments.flatMap((seg) =>
        seg.chunk ? seg.areas.map((a) => ({ source: id(a.source), offset: a.offset, length: seg.length / seg.areas.length })) : [],
      ),
    })),
    'LVM',
  );
  readable.forEach((lv, i) => applyPlan(lv, plan, i));
  return plan.warnings;
}

/** Why a segment type is not read, or null for the types that are. */
function unreadableType(type: string): string | null {
  if (type === 'striped' || type === 'linear' || type === 'zero') return null;
  if (type === 'thin') return 'thin volume: not read yet';
  if (type === 'thin-pool') return 'thin pool: holds the blocks of thin volumes, which are not read yet';
  if (type === 'snapshot') return 'snapshot: not read yet';
  if (type === 'error') return 'error segment: the volume has no data';
  if (type === 'mirror' || type.startsWith('raid')) return `${type} volume: not read yet`;
  if (['cache', 'cache-pool', 'writecache', 'vdo', 'vdo-pool', 'integrity'].includes(type)) return `${type} volume: not read yet`;
  return `segment type ${JSON.stringify(type)}: not read yet`;
}

function mapLogicalVolumes(vg: VolumeGroupMetadata, found: Map<string, FoundPv>): LvmLogicalVolume[] {
  const extentBytes = vg.extentSize * SECTOR;
  const parentOf = new Map<string, string>();
  const cowOf = new Map<string, string>();
  for (const lv of vg.lvs) {
    for (const seg of lv.segments) {
      for (const sub of seg.subVolumes) if (sub !== lv.name && !parentOf.has(sub)) parentOf.set(sub, lv.name);
      if (seg.type === 'snapshot' && seg.references.cow_store) cowOf.set(seg.references.cow_store, seg.references.origin ?? '?');
    }
  }
  return vg.lvs.map((lv) => {
    const size = lv.extentCount * extentBytes;
    const base = { vg: vg.name, name: lv.name, size: Number.isSafeInteger(size) ? size : 0, segments: lv.segments, hidden: !lv.visible };
    const reason = notReadable(lv, vg, found, parentOf, cowOf, extentBytes);
    if (!reason) return { ...base, source: new LvmVolumeSource(`LV ${vg.name}/${lv.name}`, size, mapSegments(lv, vg, found, extentBytes)) };
    const noData = lv.segments.length > 0 && lv.segments.every((s) => s.type === 'error' || s.type === 'thin-pool');
    return { ...base, notScannedReason: reason, ...(noData ? { holdsNoData: true } : {}) };
  });
}

function notReadable(
  lv: VgLv,
  vg: VolumeGroupMetadata,
  found: Map<string, FoundPv>,
  parentOf: Map<string, string>,
  cowOf: Map<string, string>,
  extentBytes: number,
): string | null {
  if (lv.damage) return `metadata damaged: ${lv.damage}`;
  if (!Number.isSafeInteger(lv.extentCount * extentBytes)) return 'larger than any supported disk';
  for (const seg of lv.segments) {
    const why = unreadableType(seg.type);
    if (why) return why;
  }
  if (cowOf.has(lv.name)) return `snapshot of ${cowOf.get(lv.name)}: its copy-on-write store is not read yet`;
  if (!lv.visible) return parentOf.has(lv.name) ? `hidden sub-volume of ${parentOf.get(lv.name)}` : 'hidden volume';
  for (const seg of lv.segments) {
    const areaExtents = seg.stripes ? seg.extentCount / seg.stripes.length : 0;
    for (const stripe of seg.stripes ?? []) {
      const pv = vg.pvs.get(stripe.pv)!;
      const src = found.get(pv.uuid);
      if (!src) return `PV ${stripe.pv} (${formatPvUuid(pv.uuid)}) is missing`;
      if (pv.missing) return `PV ${stripe.pv} (${formatPvUuid(pv.uuid)}) is marked missing in the metadata`;
      const end = pv.peStart * SECTOR + (stripe.startExtent + areaExtents) * extentBytes;
      if (!Number.isSafeInteger(end) || end > src.source.size) {
        return `extents ${stripe.startExtent}-${stripe.startExtent + areaExtents - 1} run past the end of PV ${stripe.pv} (${src.source.description})`;
      }
    }
  }
  return null;
}

export interface MappedSegment {
  /** Byte range [start, start+length) of the LV. */
  start: number;
  length: number;
  /** Bytes per stripe chunk; the whole segment for one stripe. Absent for a zero segment. */
  chunk?: number;
  areas: Array<{ source: ByteSource; offset: number }>;
}

function mapSegments(lv: VgLv, vg: VolumeGroupMetadata, found: Map<string, FoundPv>, extentBytes: number): MappedSegment[] {
  return lv.segments.map((seg) => {
    const start = seg.startExtent * extentBytes;
    const length = seg.extentCount * extentBytes;
    if (seg.type === 'zero' || !seg.stripes) return { start, length, areas: [] };
    const areas = seg.stripes.map((s) => {
      const pv = vg.pvs.get(s.pv)!;
      return { source: found.get(pv.uuid)!.source, offset: pv.peStart * SECTOR + s.startExtent * extentBytes };
    });
    const chunk = areas.length === 1 ? length : seg.stripeSize! * SECTOR;
    return { start, length, chunk, areas };
  });
}

/**
 * A logical volume's bytes: each segment maps onto one PV area (linear) or rotates
 * over its stripes every `chunk` bytes (striped: chunk n lies on stripe n mod k, at row
 * n div k), as device-mapper's striped target does.
 */
export class LvmVolumeSource implements ByteSource {
  constructor(
    readonly description: string,
    readonly size: number,
    readonly segments: MappedSegment[],
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (!(end > offset) || offset < 0) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const pieces: Promise<void>[] = [];
    for (let i = lastStartingBy(this.segments, offset); i < this.segments.length && this.segments[i]!.start < end; i++) {
      const seg = this.segments[i]!;
      if (!seg.chunk) continue; // zero segment: out is zero-filled
      const stripes = seg.areas.length;
      let rel = Math.max(offset, seg.start) - seg.start;
      const relEnd = Math.min(end, seg.start + seg.length) - seg.start;
      while (rel < relEnd) {
        const chunkNo = Math.floor(rel / seg.chunk);
        const within = rel % seg.chunk;
        const n = Math.min(seg.chunk - within, relEnd - rel);
        const area = seg.areas[chunkNo % stripes]!;
        const at = area.offset + Math.floor(chunkNo / stripes) * seg.chunk + within;
        pieces.push(this.copy(area.source, at, n, out, seg.start + rel - offset));
        rel += n;
      }
    }
    await Promise.all(pieces);
    return out;
  }

  /** The PVs belong to whoever opened them. */
  async close(): Promise<void> {}

  private async copy(source: ByteSource, at: number, n: number, out: Buffer, to: number): Promise<void> {
    const got = await source.read(at, n);
    if (got.length < n) throw corrupt(this.description, `${source.description} ends inside the volume's extents`, at + got.length);
    got.copy(out, to);
  }
}
