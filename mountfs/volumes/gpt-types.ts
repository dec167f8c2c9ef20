/**
 * Names of GPT partition type GUIDs, for the volume listing. The names are the ones
 * util-linux (fdisk/sfdisk/lsblk) prints, so the report reads like the tools an
 * analyst already knows; the GUIDs come from the UEFI spec and the Discoverable
 * Partitions Specification. Types not listed are shown by GUID.
 */
const NAMES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '9E1A2D38-C612-4316-AA26-8B49521E5A8B': 'PowerPC PReP boot',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux home',
  '3B8F8425-20E0-4F3B-907F-1A25A76F98E8': 'Linux server data',
  '4D21B016-B534-45C2-A9FB-5C16E091FD2D': 'Linux variable data',
  '7EC6F557-3BC5-4ACA-B293-16EF5DF639D1': 'Linux temporary data',
  '8DA63339-0007-60C0-C436-083AC8230908': 'Linux reserved',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  '44479540-F297-41B2-9AF7-D131D5F0458A': 'Linux root (x86)',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux root (x86-64)',
  '69DAD710-2CE4-4E3C-B16C-21A1D49ABED3': 'Linux root (ARM)',
  'B921B045-1DF0-41C3-AF44-4C6F280D3FAE': 'Linux root (ARM-64)',
  'C31C45E6-3F39-412E-80FB-4809C4980599': 'Linux root (PPC64LE)',
  '72EC70A6-CF74-40E6-BD49-4BDA08E8F224': 'Linux root (RISC-V-64)',
  '5EEAD9A9-FE09-4A1E-A1D7-520D00531306': 'Linux root (S390X)',
  '75250D76-8CC6-458E-BD66-BD47CC81A812': 'Linux /usr (x86)',
  '8484680C-9521-48C6-9C11-B0720656F69E': 'Linux /usr (x86-64)',
  'B0E01050-EE5F-4390-949A-9101B17104E9': 'Linux /usr (ARM-64)',
  '2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5': 'Linux root verity (x86-64)',
  'DF3300CE-D69F-4C92-978C-9BFB0F38D820': 'Linux root verity (ARM-64)',
  '77FF5F63-E7B6-4633-ACF4-1565B864C0E6': 'Linux /usr verity (x86-64)',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  '5808C8AA-7E8F-42E0-85D2-E1E90434CFB3': 'Microsoft LDM metadata',
  'AF9B60A0-1431-4F62-BC68-3311714A69AD': 'Microsoft LDM data',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '516E7CB4-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD data',
  '83BD6B9D-7F41-11DC-BE0B-001560B84F0F': 'FreeBSD boot',
  '516E7CB5-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD swap',
  '516E7CB6-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD UFS',
  '516E7CBA-6ECF-11D6-8FF8-00022D09712B': 'FreeBSD ZFS',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
  '6A898CC3-1DD2-11B2-99A6-080020736631': 'Solaris /usr & Apple ZFS',
  'FE3A2A5D-4F32-41A7-B725-ACCC3285A309': 'ChromeOS kernel',
  '3CB8E202-3B7E-47DD-8A3C-7FF2A13CFCEC': 'ChromeOS root fs',
  '4FBD7E29-9D25-41B8-AFD0-062C0CEFF05D': 'Ceph OSD',
  'AA31E02A-400F-11DB-9590-000C2911D1B8': 'VMware VMFS',
};

/** Every GUID named here, for tests that compare the names with util-linux's. */
export const NAMED_GPT_TYPES: readonly string[] = Object.keys(NAMES);

/** The name of a type GUID (upper-case text form), or the GUID itself when unknown. */
export function gptTypeName(guid: string): string {
  return NAMES[guid.toUpperCase()] ?? guid.toUpperCase();
}
