/**
 * Registry content for tests, written as the .reg text `hivexregedit --merge` reads (so
 * hives are built by hivex, never by a writer of ours): value literals, keys with every
 * ancestor declared, and what a stock Windows server's SOFTWARE hive holds in the keys
 * the registry checks read (no public SOFTWARE hive is small enough to keep beside the
 * repository, so it is merged into a copy of hivex's minimal hive).
 */
export type RegValue = string;
/** Keys (paths below the hive root) to values ("name" or "@" to a .reg value literal). */
export type RegKeys = Record<string, Record<string, RegValue>>;

export const sz = (s: string): RegValue => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
export const dw = (n: number): RegValue => `dword:${n.toString(16).padStart(8, '0')}`;
export const expand = (s: string): RegValue => `hex(2):${Buffer.from(`${s}\0`, 'utf16le').toString('hex').replace(/(..)(?!$)/g, '$1,')}`;

/** .reg text for the keys, every ancestor key declared first (hivexregedit creates one level at a time). */
export function regText(keys: RegKeys): string {
  const out = ['Windows Registry Editor Version 5.00', ''];
  const declared = new Set<string>();
  for (const [key, values] of Object.entries(keys)) {
    const parts = key.split('\\');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('\\');
      if (!declared.has(parent.toLowerCase())) {
        declared.add(parent.toLowerCase());
        out.push(`[\\${parent}]`, '');
      }
    }
    declared.add(key.toLowerCase());
    out.push(`[\\${key}]`);
    for (const [name, v] of Object.entries(values)) out.push(`${name === '@' ? '@' : sz(name)}=${v}`);
    out.push('');
  }
  return out.join('\r\n');
}

export const NT = 'Microsoft\\Windows NT\\CurrentVersion';
export const RUN = 'Microsoft\\Windows\\CurrentVersion\\Run';
export const ADMIN_SID = 'S-1-5-21-3623811015-3361044348-30300820-500';

/** What a stock Windows server's SOFTWARE hive holds in the keys the checks read. */
export const STOCK_SOFTWARE: RegKeys = {
  [RUN]: {
    SecurityHealth: expand('%windir%\\system32\\SecurityHealthSystray.exe'),
    VMware_User_Process: sz('"C:\\Program Files\\VMware\\VMware Tools\\vmtoolsd.exe" -n vmusr'),
    AzureArcSetup: expand('%windir%\\AzureArcSetup\\Systray\\AzureArcSysTray.exe'),
  },
  [`Wow6432Node\\${RUN}`]: { 'Adobe ARM': sz('"C:\\Program Files (x86)\\Common Files\\Adobe\\ARM\\1.0\\AdobeARM.exe"') },
  'Microsoft\\Windows\\CurrentVersion\\RunOnce': {},
  [`${NT}\\Winlogon`]: { Shell: sz('explorer.exe'), Userinit: sz('C:\\Windows\\system32\\userinit.exe,'), AutoRestartShell: dw(1), DefaultUserName: sz('Administrator') },
  [`Wow6432Node\\${NT}\\Winlogon`]: { Shell: sz('explorer.exe') },
  [`${NT}\\Windows`]: { AppInit_DLLs: sz(''), LoadAppInit_DLLs: dw(0), RequireSignedAppInit_DLLs: dw(1) },
  [`${NT}\\Image File Execution Options\\DllNXOptions`]: { 'mscoree.dll': dw(1) },
  [`${NT}\\Image File Execution Options\\MsMpEng.exe`]: { MitigationOptions: `hex(b):00,00,00,00,00,01,00,00` },
  [`${NT}\\Image File Execution Options\\explorer.exe`]: { CFGOptions: dw(0) },
  [`${NT}\\SilentProcessExit`]: {},
  'Microsoft\\Windows Defender': { ProductStatus: dw(0), InstallLocation: sz('C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\') },
  'Microsoft\\Windows Defender\\Exclusions\\Paths': {},
  'Microsoft\\Windows Defender\\Exclusions\\Processes': {},
  'Microsoft\\Windows Defender\\Exclusions\\Extensions': {},
  'Microsoft\\Windows Defender\\Real-Time Protection': { DisableRealtimeMonitoring: dw(0) },
  'Microsoft\\Windows Defender\\Spynet': { SpynetReporting: dw(2), SubmitSamplesConsent: dw(1) },
  'Policies\\Microsoft\\Windows Defender': {},
  [`${NT}\\ProfileList\\S-1-5-18`]: { ProfileImagePath: expand('%systemroot%\\system32\\config\\systemprofile') },
  [`${NT}\\ProfileList\\${ADMIN_SID}`]: { ProfileImagePath: expand('C:\\Users\\Administrator') },
};
