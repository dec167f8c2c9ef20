/**
 * qcow2 header extensions (QEMU docs/interop/qcow2.txt "Header extensions"): the
 * type/length records between the header and the end of the first cluster. minescan
 * needs the backing file format, the feature name table (to name an unknown feature in
 * an error) and the external data file name (to say which file a refused image needs);
 * the other types are skipped. The area is bounded by the first cluster, and every
 * record must advance, so a damaged chain ends.
 */
import { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../byte-source.js';
import type { Qcow2Layout } from './header.js';

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_NAMES = 0x6803f857;
const EXT_DATA_FILE = 0x44415441;
const FEATURE_NAME_ENTRY = 48;

export interface Qcow2Extensions {
  backingFormat?: string;
  externalDataFile?: string;
  /** "incompatible:4" → "extended l2", from the feature name table. */
  featureNames: Map<string, string>;
}

/**
 * Reads the extensions after the header. `head` holds the file's first bytes; when the
 * records run past it, the rest of the first cluster is read (at most 2 MiB, once).
 */
export async function readExtensions(inner: ByteSource, header: Qcow2Layout, head: Buffer): Promise<Qcow2Extensions> {
  const result: Qcow2Extensions = { featureNames: new Map() };
  const areaEnd = Math.min(header.clusterSize, inner.size);
  let buf = head;
  const view = async (at: number, length: number): Promise<BinaryView> => {
    if (at + length > areaEnd) {
      throw corrupt('qcow2 header extension', `a ${length}-byte record runs past the end of the first cluster`, at);
    }
    if (at + length > buf.length) buf = await inner.read(0, areaEnd);
    return new BinaryView(buf, 'qcow2 header extension', 0).slice(at, length);
  };

  let at = header.headerLength;
  while (at + 8 <= areaEnd) {
    const rec = await view(at, 8);
    const type = rec.u32be(0);
    const length = rec.u32be(4);
    if (type === EXT_END) break;
    const data = await view(at + 8, length);
    if (type === EXT_BACKING_FORMAT) result.backingFormat = data.cstring(0, length);
    else if (type === EXT_DATA_FILE) result.externalDataFile = data.cstring(0, length);
    else if (type === EXT_FEATURE_NAMES) {
      for (let e = 0; e + FEATURE_NAME_ENTRY <= length; e += FEATURE_NAME_ENTRY) {
        const kind = ['incompatible', 'compatible', 'autoclear'][data.u8(e)] ?? `type${data.u8(e)}`;
        result.featureNames.set(`${kind}:${data.u8(e + 1)}`, data.cstring(e + 2, 46));
      }
    }
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return result;
}
