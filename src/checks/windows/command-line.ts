/**
 * What a Windows command line stored in the registry starts, as CreateProcess and the
 * service control manager read it: a quoted program path, or an unquoted one up to the
 * first executable extension (CreateProcess tries "C:\Program Files\x y.exe" word by
 * word; the extension is where every real one ends), and the PowerShell script an
 * -EncodedCommand carries (base64 of UTF-16LE), so the rules can read it decoded.
 */
import { windowsPathParts } from '../../facts/windows/hives.js';

const PROGRAM_EXTENSIONS = 'exe|com|bat|cmd|dll|sys|scr|ps1|vbs|vbe|js|jse|wsf|hta|msi|cpl|ocx';
const UNQUOTED_PROGRAM = new RegExp(`^(.{1,1024}?\\.(?:${PROGRAM_EXTENSIONS}))(?=[\\s,;"]|$)`, 'i');

/** The program (or DLL) a command line names first, as written; undefined for an empty line. */
export function windowsProgram(commandLine: string): string | undefined {
  const s = commandLine.trim();
  if (s === '') return undefined;
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    return end === -1 ? s.slice(1) : s.slice(1, end);
  }
  const m = UNQUOTED_PROGRAM.exec(s);
  return m ? m[1]! : s.split(/\s/)[0];
}

/** The program's path in the scanned root (the system volume), when it is on it. */
export function programInRoot(program: string): string | undefined {
  let p = program;
  // Service image paths are often relative to the system root: "system32\drivers\x.sys".
  if (/^system32\\/i.test(p)) p = `%SystemRoot%\\${p}`;
  const parts = windowsPathParts(p);
  return parts.length > 0 ? `/${parts.join('/')}` : undefined;
}

/** A program that ships in the Windows folder: removing it is never the remedy. */
export function isWindowsProgram(program: string): boolean {
  const parts = windowsPathParts(/^system32\\/i.test(program) ? `%SystemRoot%\\${program}` : program);
  return parts.length === 0 || parts[0]!.toLowerCase() === 'windows' || !program.includes('\\');
}

/** A string quoted for PowerShell: single quotes, a quote doubled. */
export function psQuote(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A string quoted for cmd.exe and reg.exe: double quotes (a quote inside cannot be escaped, so it is dropped). */
export function cmdQuote(s: string): string {
  return `"${s.replace(/"/g, '')}"`;
}

/** A path of the scanned root as the Windows responder writes it: "C:\Windows\System32\config\SYSTEM". */
export function asWindowsPath(rootPath: string): string {
  return `C:${rootPath.replace(/\//g, '\\')}`;
}
