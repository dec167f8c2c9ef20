/**
 * Is an archive member a disk image rather than a file of a root? Told by its first
 * 4 KiB, as the rest of minescan tells formats: never by the member's name.
 */
export const DISK_MEMBER_MIN = 1 << 20;

/** Container magics (qcow2, VMDK sparse/descriptor, VHDX, VHD), a bare ext or XFS filesystem, a GPT header, or an MBR signature. */
export function looksLikeDisk(head: Buffer): boolean {
  const text = head.toString('latin1', 0, 64);
  if (text.startsWith('QFI\xfb') || text.startsWith('KDMV') || text.startsWith('vhdxfile') || text.startsWith('# Disk DescriptorFile')) return true;
  if (text.startsWith('conectix') || text.startsWith('XFSB')) return true;
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return true;
  if (head.length >= 520 && head.toString('latin1', 512, 520) === 'EFI PART') return true;
  return head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa;
}
