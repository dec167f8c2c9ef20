/**
 * The Windows hosts file (Windows\System32\drivers\etc\hosts): the same format as
 * /etc/hosts and the same tampering (pools pinned to an address, security products cut
 * off), so the same rules judge it (hosts-file.yaml through judgeHostsFile), plus what
 * only Windows has: Windows Update and Defender's domains sent nowhere
 * (windows-hosts-file.yaml, scope hosts). The path is found ignoring case.
 */
import type { Check } from '../../model/check.js';
import { caselessGlob, findCaseless } from '../../facts/windows/caseless.js';
import { judgeHostsFile, MAX_HOSTS_BYTES } from '../hosts-file.js';
import { readConfigText } from '../shared/config-files.js';
import { showLine } from '../shared/command-remediation.js';
import { windowsDisplayPath } from './windows-paths.js';

const HOSTS = '/Windows/System32/drivers/etc/hosts';

export const windowsHostsFileCheck: Check = {
  id: 'windows-hosts-file',
  persistence: true,
  platforms: ['windows'],
  description: 'Windows hosts file entries that pin mining pools or cut off Windows Update, Defender or a security product',
  paths: [caselessGlob(HOSTS)],
  async run(ctx) {
    const path = await findCaseless(ctx.vfs, HOSTS);
    if (path === undefined) return;
    const file = await readConfigText(ctx, path, MAX_HOSTS_BYTES);
    if (!file) return;
    const shown = windowsDisplayPath(path);
    await judgeHostsFile(ctx, path, file.text, 'tampering/hosts', async (entry) =>
      [
        `$h = '${shown}'; (Get-Content -LiteralPath $h) | Where-Object { $_.ReadCount -ne ${entry.line} } | Set-Content -LiteralPath $h   # deletes line ${entry.line}: ${showLine(entry.lineText.trim())}`,
        'ipconfig /flushdns',
      ].join('\n'),
    );
  },
};
