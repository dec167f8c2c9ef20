/**
 * Windows paths as the Windows checks need them: a root path shown as a responder types
 * it (C:\Windows\System32\Tasks\x, the scanned volume being the system drive), whether a
 * folder is one any account may write to (where a program run by SYSTEM must never
 * live), which accounts are SYSTEM, and the PowerShell that deletes started programs.
 * Names compare ignoring case, as Windows compares them.
 */

/** "/Windows/System32/Tasks/x" → "C:\Windows\System32\Tasks\x". */
export function windowsDisplayPath(path: string): string {
  return `C:${path.replace(/\//g, '\\')}`;
}

/**
 * Folders ordinary accounts can create files in: ProgramData, every profile (AppData,
 * Downloads, Desktop), Users\Public, the temporary folders, PerfLogs and the recycle bin,
 * and any other folder at the root of the drive (created by a user, it stays writable
 * by authenticated users). Microsoft's own folders in ProgramData and AppData (Defender's
 * platform, OneDrive) are left out: Windows keeps them locked down.
 */
export function isUserWritable(path: string): boolean {
  const p = path.toLowerCase();
  if (/^\/(?:programdata|users\/[^/]+\/appdata\/(?:local|roaming|locallow))\/microsoft\//.test(p)) return false;
  if (/^\/(?:programdata|users|windows\/temp|perflogs|\$recycle\.bin)\//.test(p)) return true;
  const top = p.split('/')[1] ?? '';
  return p.split('/').length > 2 && !KNOWN_ROOT_FOLDERS.has(top);
}

const KNOWN_ROOT_FOLDERS = new Set(['windows', 'program files', 'program files (x86)', 'programdata', 'users', 'boot', 'recovery', 'system volume information', '$windows.~bt', '$windows.~ws', 'windows.old', 'efi']);

/** The SYSTEM account as tasks and services name it. */
export function isSystemAccount(account: string | undefined): boolean {
  return account !== undefined && /^(?:s-1-5-18|system|nt authority\\system|localsystem|\.\\localsystem)$/i.test(account.trim());
}

/** PowerShell lines deleting the started programs that sit in user-writable folders (system files are never deleted). */
export function removeStartedPrograms(started: string[]): string[] {
  return started.filter(isUserWritable).map((p) => `Remove-Item -Force -LiteralPath '${windowsDisplayPath(p).replace(/'/g, "''")}'`);
}
