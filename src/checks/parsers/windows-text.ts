/**
 * Text files as Windows programs write them: UTF-16LE with a byte-order mark (Task
 * Scheduler, PowerShell ISE, Notepad's "Unicode"), UTF-16BE with its mark, UTF-8 with or
 * without one. The mark decides; "<\0" opening a document is UTF-16LE without one.
 */
export function decodeWindowsText(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return Buffer.from(bytes.subarray(2, 2 + ((bytes.length - 2) & ~1))).swap16().toString('utf16le');
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.subarray(3).toString('utf8');
  if (bytes[0] === 0x3c && bytes[1] === 0x00) return bytes.toString('utf16le');
  return bytes.toString('utf8');
}
