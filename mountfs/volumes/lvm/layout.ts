/**
 * Reads the volume group out of parsed LVM2 text metadata (format of the LVM2 source's
 * lib/format_text/import_vsn1.c): the VG's extent size, its PVs (UUID, pe_start,
 * pe_count) and its logical volumes with their segments. A segment is kept with its
 * type; linear and striped ones also with their stripe areas, checked against the
 * VG. Damage confined to one LV is recorded on that LV, so the rest can still be read.
 */
import { corrupt, MountfsError } from '../../errors.js';
import {
  getInt,
  getList,
  getSection,
  getString,
  optInt,
  optSection,
  optString,
  stringList,
  type ConfigSection,
} from './metadata-text.js';

/** Volumes beyond these counts are not a real VG. */
const MAX_PVS = 4096;
const MAX_LVS = 65536;
const MAX_SEGMENTS = 65536;

export interface VgPv {
  /** The key in physical_volumes, e.g. "pv0", used by segments. */
  key: string;
  /** UUID without dashes, to match the PV label. */
  uuid: string;
  /** Start of the first extent, in 512-byte sectors. */
  peStart: number;
  peCount: number;
  missing: boolean;
}

export interface StripeArea {
  pv: string;
  /** First physical extent on that PV. */
  startExtent: number;
}

export interface LvSegment {
  startExtent: number;
  extentCount: number;
  /** "striped" (linear is striped with one stripe), "thin", "raid1", ... */
  type: string;
  /** Stripe size in sectors, when there is more than one stripe. */
  stripeSize?: number;
  stripes?: StripeArea[];
  /** Fields naming one other LV: a thin pool's data, a snapshot's origin and store, ... */
  references: Record<string, string>;
  /** Every LV this segment is built from or refers to (including raid images and mirror legs). */
  subVolumes: string[];
}

export interface VgLv {
  name: string;
  visible: boolean;
  segments: LvSegment[];
  extentCount: number;
  /** Why this LV's own metadata cannot be used, when it cannot. */
  damage?: string;
}

export interface VolumeGroupMetadata {
  name: string;
  id: string;
  seqno: number;
  /** Extent size in 512-byte sectors. */
  extentSize: number;
  pvs: Map<string, VgPv>;
  lvs: VgLv[];
}

/** Segment fields naming one other LV, and fields listing several. */
const REFERENCE_KEYS = ['pool', 'metadata', 'thin_pool', 'origin', 'cow_store', 'cache_pool', 'vdo_pool', 'data', 'writecache', 'integrity_meta', 'merging_origin', 'mirror_log', 'external_origin'];
const REFERENCE_LISTS = ['raids', 'mirrors'];

export function readVolumeGroup(root: ConfigSection): VolumeGroupMetadata {
  const sections = [...root.entries.entries()].filter(([, v]) => v.kind === 'section') as Array<[string, ConfigSection]>;
  if (sections.length !== 1) throw corrupt('LVM metadata text', `expected one volume group section, found ${sections.length}`);
  const [name, vg] = sections[0]!;
  const where = `VG ${name}`;
  const contents = optString(root, 'contents', 'metadata');
  if (contents !== undefined && contents !== 'Text Format Volume Group') throw corrupt('LVM metadata text', `contents ${JSON.stringify(contents)} is not a volume group`);
  const version = optInt(root, 'version', 'metadata');
  if (version !== undefined && version !== 1) throw corrupt('LVM metadata text', `format version ${version} (only 1 is known)`);

  const id = getString(vg, 'id', where);
  const seqno = getInt(vg, 'seqno', where);
  const extentSize = getInt(vg, 'extent_size', where, 1);
  const pvs = new Map<string, VgPv>();
  const pvSection = getSection(vg, 'physical_volumes', where);
  for (const [key, value] of pvSection.entries) {
    if (value.kind !== 'section') continue;
    if (pvs.size >= MAX_PVS) throw corrupt('LVM metadata text', `${where} lists more than ${MAX_PVS} PVs`);
    const w = `${where} PV ${key}`;
    const flags = [...stringList(value, 'status', w), ...stringList(value, 'flags', w)];
    pvs.set(key, {
      key,
      uuid: getString(value, 'id', w).replace(/-/g, ''),
      peStart: getInt(value, 'pe_start', w),
      peCount: getInt(value, 'pe_count', w),
      missing: flags.includes('MISSING'),
    });
  }
  const lvs: VgLv[] = [];
  const lvSection = optSection(vg, 'logical_volumes', where);
  for (const [lvName, value] of lvSection?.entries ?? []) {
    if (value.kind !== 'section') continue;
    if (lvs.length >= MAX_LVS) throw corrupt('LVM metadata text', `${where} lists more than ${MAX_LVS} LVs`);
    lvs.push(readLv(lvName, value, `${where} LV ${lvName}`, pvs));
  }
  return { name, id, seqno, extentSize, pvs, lvs };
}

function readLv(name: string, lv: ConfigSection, where: string, pvs: Map<string, VgPv>): VgLv {
  let visible = true;
  try {
    visible = stringList(lv, 'status', where).includes('VISIBLE');
    const count = getInt(lv, 'segment_count', where, 1);
    if (count > MAX_SEGMENTS) throw corrupt('LVM metadata text', `${where}: ${count} segments`);
    const segments: LvSegment[] = [];
    for (let i = 1; i <= count; i++) segments.push(readSegment(getSection(lv, `segment${i}`, where), `${where} segment${i}`, pvs));
    segments.sort((a, b) => a.startExtent - b.startExtent);
    let next = 0;
    for (const s of segments) {
      if (s.startExtent !== next) throw corrupt('LVM metadata text', `${where}: segments leave a gap or overlap at extent ${Math.min(next, s.startExtent)}`);
      next += s.extentCount;
    }
    return { name, visible, segments, extentCount: next };
  } catch (err) {
    if (!(err instanceof MountfsError)) throw err;
    return { name, visible, segments: [], extentCount: 0, damage: err.message };
  }
}

function readSegment(seg: ConfigSection, where: string, pvs: Map<string, VgPv>): LvSegment {
  const startExtent = getInt(seg, 'start_extent', where);
  const extentCount = getInt(seg, 'extent_count', where, 1);
  const type = getString(seg, 'type', where);
  const references: Record<string, string> = {};
  const subVolumes: string[] = [];
  for (const key of REFERENCE_KEYS) {
    const v = seg.entries.get(key);
    if (v?.kind === 'string') {
      references[key] = v.value;
      subVolumes.push(v.value);
    }
  }
  for (const key of REFERENCE_LISTS) {
    const v = seg.entries.get(key);
    if (v?.kind === 'list') for (const item of v.items) if (item.kind === 'string') subVolumes.push(item.value);
  }
  const out: LvSegment = { startExtent, extentCount, type, references, subVolumes };
  if (type !== 'striped' && type !== 'linear') return out;

  const stripeCount = getInt(seg, 'stripe_count', where, 1);
  const list = getList(seg, 'stripes', where);
  if (list.length !== stripeCount * 2) throw corrupt('LVM metadata text', `${where}: ${stripeCount} stripes but ${list.length} list items`);
  if (extentCount % stripeCount !== 0) throw corrupt('LVM metadata text', `${where}: ${extentCount} extents do not divide into ${stripeCount} stripes`);
  const areaExtents = extentCount / stripeCount;
  const stripes: StripeArea[] = [];
  for (let i = 0; i < stripeCount; i++) {
    const pvItem = list[i * 2]!;
    const startItem = list[i * 2 + 1]!;
    if (pvItem.kind !== 'string' || startItem.kind !== 'int') throw corrupt('LVM metadata text', `${where}: stripe ${i} is not a PV name and an extent`);
    const pv = pvs.get(pvItem.value);
    if (!pv) throw corrupt('LVM metadata text', `${where}: stripe ${i} names ${JSON.stringify(pvItem.value)}, which is not a PV of the VG`);
    if (startItem.value < 0n || startItem.value + BigInt(areaExtents) > BigInt(pv.peCount)) {
      throw corrupt('LVM metadata text', `${where}: stripe ${i} (extents ${startItem.value}+${areaExtents}) runs past the ${pv.peCount} extents of ${pv.key}`);
    }
    stripes.push({ pv: pv.key, startExtent: Number(startItem.value) });
  }
  out.stripes = stripes;
  if (stripeCount > 1) out.stripeSize = getInt(seg, 'stripe_size', where, 1);
  return out;
}
