/**
 * $FILE_NAME: a name of a file in its parent directory, stored both as an attribute of
 * the file and as the key of its entry in the parent's index. One file has one per hard
 * link and per namespace (a long Win32 name and its DOS 8.3 twin are two).
 *
 * Layout: FILE_NAME_ATTR in ntfs-3g's layout.h and "$FILE_NAME" in the Linux-NTFS
 * documentation.
 */
import type { BinaryView } from '../../binary.js';
import { corrupt } from '../../errors.js';
import { mftRecordNumber } from './mft-record.js';

export const NAMESPACE = { POSIX: 0, WIN32: 1, DOS: 2, WIN32_AND_DOS: 3 } as const;
/** FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT: the named file is a directory. */
export const FILE_NAME_IS_DIRECTORY = 0x10000000;

export interface FileName {
  parent: number;
  name: string;
  namespace: number;
  /** The DOS attributes copied into the name (FILE_ATTR_*). */
  attributes: number;
}

export function parseFileName(v: BinaryView): FileName {
  const length = v.u8(0x40);
  if (0x42 + length * 2 > v.length) throw corrupt(v.structure, `file name of ${length} characters runs past its ${v.length}-byte attribute`, v.baseOffset + 0x40);
  return {
    parent: mftRecordNumber(v.bytes(0, 8).readBigUInt64LE(0)),
    name: v.bytes(0x42, length * 2).toString('utf16le'),
    namespace: v.u8(0x41),
    attributes: v.u32le(0x38),
  };
}
