/**
 * Registry value types and how their data reads: strings are UTF-16LE ended by a NUL
 * (what follows the NUL is ignored, as Windows' own readers do), REG_MULTI_SZ is a list
 * of them ended by an empty string, numbers are little-endian (REG_DWORD_BIG_ENDIAN
 * aside). Types as winnt.h numbers them.
 */
export const REG_NONE = 0;
export const REG_SZ = 1;
export const REG_EXPAND_SZ = 2;
export const REG_BINARY = 3;
export const REG_DWORD = 4;
export const REG_DWORD_BIG_ENDIAN = 5;
export const REG_LINK = 6;
export const REG_MULTI_SZ = 7;
export const REG_QWORD = 11;

const TYPE_NAMES: Record<number, string> = {
  0: 'REG_NONE',
  1: 'REG_SZ',
  2: 'REG_EXPAND_SZ',
  3: 'REG_BINARY',
  4: 'REG_DWORD',
  5: 'REG_DWORD_BIG_ENDIAN',
  6: 'REG_LINK',
  7: 'REG_MULTI_SZ',
  8: 'REG_RESOURCE_LIST',
  9: 'REG_FULL_RESOURCE_DESCRIPTOR',
  10: 'REG_RESOURCE_REQUIREMENTS_LIST',
  11: 'REG_QWORD',
};

export function typeName(type: number): string {
  return TYPE_NAMES[type] ?? `type 0x${type.toString(16)}`;
}

export type DecodedValue =
  | { kind: 'string'; value: string }
  | { kind: 'strings'; value: string[] }
  | { kind: 'number'; value: number | bigint }
  | { kind: 'binary'; value: Buffer };

function utf16(data: Buffer): string {
  const even = data.subarray(0, data.length & ~1);
  let end = even.length;
  for (let i = 0; i + 1 < even.length; i += 2) {
    if (even[i] === 0 && even[i + 1] === 0) {
      end = i;
      break;
    }
  }
  return even.subarray(0, end).toString('utf16le');
}

export function decodeValue(type: number, data: Buffer): DecodedValue {
  switch (type) {
    case REG_SZ:
    case REG_EXPAND_SZ:
    case REG_LINK:
      return { kind: 'string', value: utf16(data) };
    case REG_MULTI_SZ: {
      const text = data.subarray(0, data.length & ~1).toString('utf16le');
      const parts = text.split('\u0000');
      // The list ends at the first empty string (its terminator).
      const end = parts.indexOf('');
      return { kind: 'strings', value: end === -1 ? parts : parts.slice(0, end) };
    }
    case REG_DWORD:
      return data.length >= 4 ? { kind: 'number', value: data.readUInt32LE(0) } : { kind: 'binary', value: data };
    case REG_DWORD_BIG_ENDIAN:
      return data.length >= 4 ? { kind: 'number', value: data.readUInt32BE(0) } : { kind: 'binary', value: data };
    case REG_QWORD: {
      if (data.length < 8) return { kind: 'binary', value: data };
      const big = data.readBigUInt64LE(0);
      return { kind: 'number', value: big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big };
    }
    default:
      return { kind: 'binary', value: data };
  }
}

/** The value as one line of text: a string, strings joined by spaces, a number, or hex. */
export function valueText(decoded: DecodedValue): string {
  switch (decoded.kind) {
    case 'string':
      return decoded.value;
    case 'strings':
      return decoded.value.join(' ');
    case 'number':
      return String(decoded.value);
    case 'binary':
      return decoded.value.subarray(0, 256).toString('hex');
  }
}
