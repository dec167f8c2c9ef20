/**
 * The ssh-keys check and its authorized_keys parser: fingerprints and key lines
 * compared with the real `ssh-keygen -lf` over keys it generated (RSA, DSA, ECDSA of
 * three sizes, Ed25519, crafted security-key types, options with quoted commas and
 * spaces); a planted tree (Outlaw's key by comment and by fingerprint, an immutable key
 * file, malformed lines, foreign and root owners, a key file reached through a symlink,
 * homes shared by two accounts and outside /home) with exact rule ids, severities,
 * lines, families and remediation; a clean tree that gives only the info inventory; and
 * hostile files that must not crash or stall it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chown, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sshKeysCheck } from '../../src/checks/ssh-keys.js';
import { keygenLine, parseAuthorizedKeys } from '../../src/facts/authorized-keys.js';
import type { Finding } from '../../src/model/finding.js';
import { scanDirectory } from '../helpers/scan-dir.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';

const run = promisify(execFile);

/** The key Outlaw's dota kit writes, as honeypots record it. */
const OUTLAW_BLOB =
  'AAAAB3NzaC1yc2EAAAABJQAAAQEArDp4cun2lhr4KUhBGE7VvAcwdli2a8dbnrTOrbMz1+5O73fcBOx8NVbUT0bUanUV9tJ2/9p7+vD0EpZ3Tz/+0kX34uAx1RV/75GVOmNx+9EuWOnvNoaJe0QXxziIg9eLBHpgLMuakb5+BgTFB+rKJAw9u9FSTDengvS8hX1kNFS4Mjux0hJOK8rvcEmPecjdySYMb66nylAKGwCEE6WEQHmd1mUPgHwGQ0hWCwsQk13yCGPK5w6hYp5zYkFnvlC8hGmd4Ww+u97k6pfTGTUbJk14ujvcD9iUKQTTWYYjIIu5PmUux5bsZ0R4WFwdIe6+i6rBLAsPKgAySVKPRK+oRw==';
const OUTLAW_FINGERPRINT = 'SHA256:MkYY9qiVsFGBC5WkjoClCkwEFW5iSjcGQF7m4n4H7Cw';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash',
  'deploy:x:1001:1001::/srv/deploy:/bin/bash',
  'ops1:x:1002:1002::/home/ops:/bin/bash',
  'ops2:x:1003:1003::/home/ops/:/bin/bash',
].join('\n');

interface Keys {
  /** "type base64 comment" lines ssh-keygen wrote. */
  [name: string]: string;
}

async function put(root: string, rel: string, text: string | Buffer): Promise<string> {
  const p = path.join(root, rel);
  await mkdir(path.dirname(p), { recursive: true });
  await writeFile(p, text);
  return p;
}

function wire(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => [Buffer.from([0, 0, 0, 0].map((_, i) => (p.length >>> (8 * (3 - i))) & 0xff)), p]));
}

const summary = (fs: Finding[]) => fs.map((f) => `${f.severity} ${f.rule} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}${f.family ? ` [${f.family}]` : ''}`).sort();

describe('authorized_keys parsing', () => {
  let scratch: string;
  const keys: Keys = {};

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-ssh-');
    const kinds: Array<[string, string[]]> = [
      ['rsa', ['-t', 'rsa', '-b', '2048']],
      ['dsa', ['-t', 'dsa']],
      ['ed25519', ['-t', 'ed25519']],
      ['ecdsa256', ['-t', 'ecdsa', '-b', '256']],
      ['ecdsa384', ['-t', 'ecdsa', '-b', '384']],
      ['ecdsa521', ['-t', 'ecdsa', '-b', '521']],
    ];
    for (const [name, args] of kinds) {
      const file = path.join(scratch, name);
      await run('ssh-keygen', ['-q', ...args, '-N', '', '-C', `${name}@test`, '-f', file]);
      keys[name] = (await readFile(`${file}.pub`, 'utf8')).trim();
    }
    // Security-key types need no hardware to fingerprint: wrap the public parts by hand.
    const ed = Buffer.from(keys.ed25519!.split(' ')[1]!, 'base64');
    const edPk = ed.subarray(ed.length - 32);
    keys.sked = `sk-ssh-ed25519@openssh.com ${wire(Buffer.from('sk-ssh-ed25519@openssh.com'), edPk, Buffer.from('ssh:')).toString('base64')} sk-ed@test`;
    const ec = Buffer.from(keys.ecdsa256!.split(' ')[1]!, 'base64');
    const q = ec.subarray(ec.length - 65);
    keys.skec = `sk-ecdsa-sha2-nistp256@openssh.com ${wire(Buffer.from('sk-ecdsa-sha2-nistp256@openssh.com'), Buffer.from('nistp256'), q, Buffer.from('ssh:')).toString('base64')} sk-ec@test`;
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('prints exactly what ssh-keygen -lf prints, options and odd comments included', async () => {
    const lines = [
      '# a comment line, then a blank one',
      '',
      // ssh-keygen 9.x keeps the previous line's comment pointer for a line without one
      // (it then prints a piece of the line): comment-less keys come first.
      `${keys.rsa!.replace(/ \S+$/, '')} #not a comment to ssh-keygen`,
      keys.ecdsa384!.replace(/ \S+$/, ''),
      keys.rsa!,
      `  ${keys.dsa!}`,
      `command="echo hi, there",no-pty,from="10.0.0.1,10.0.0.2" ${keys.ed25519!}`,
      keys.ecdsa256!,
      keys.ecdsa521!.replace(/ \S+$/, '\tcomment with  spaces '),
      `environment="A=\\"b c\\"",restrict ${keys.sked!}`,
      keys.skec!,
      `no-pty ${keys.ed25519!.replace(/ \S+$/, '')}`,
      `rsa-sha2-256 ${keys.rsa!.split(' ')[1]} alias`,
    ];
    const file = await put(scratch, 'all_keys', lines.join('\n') + '\n');
    const theirs = (await run('ssh-keygen', ['-lf', file])).stdout.trimEnd().split('\n');
    const parsed = parseAuthorizedKeys(lines.join('\n'));
    expect(parsed.malformed).toEqual([]);
    expect(parsed.keys.map(keygenLine)).toEqual(theirs);
    expect(theirs).toHaveLength(11);
    expect(parsed.keys.map((k) => k.line)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const withOptions = parsed.keys[4]!;
    expect(withOptions.options).toEqual(['command="echo hi, there"', 'no-pty', 'from="10.0.0.1,10.0.0.2"']);
    expect(withOptions.comment).toBe('ed25519@test');
    expect(parsed.keys[7]!.options).toEqual(['environment="A=\\"b c\\""', 'restrict']);
    expect(parsed.keys.map((k) => k.label)).toEqual(['RSA', 'ECDSA', 'RSA', 'DSA', 'ED25519', 'ECDSA', 'ECDSA', 'ED25519-SK', 'ECDSA-SK', 'ED25519', 'RSA']);
  });

  it("fingerprints Outlaw's published key as ssh-keygen does", async () => {
    const file = await put(scratch, 'outlaw.pub', `ssh-rsa ${OUTLAW_BLOB} mdrfckr\n`);
    const [bits, fp] = (await run('ssh-keygen', ['-lf', file])).stdout.split(' ');
    const key = parseAuthorizedKeys(`ssh-rsa ${OUTLAW_BLOB} mdrfckr`).keys[0]!;
    expect([String(key.bits), key.fingerprint]).toEqual([bits, fp]);
    expect(key.fingerprint).toBe(OUTLAW_FINGERPRINT);
  });

  it('rejects what sshd rejects, with a reason, and skips what it skips', () => {
    const ed = keys.ed25519!;
    const blob = ed.split(' ')[1]!;
    const text = [
      '# comment',
      '   ',
      'not a key at all',
      `ssh-rsa ${blob} blob says ed25519`,
      `ssh-ed25519 ${blob.slice(0, 40)}`,
      `ssh-ed25519 AAAA!!notbase64 x`,
      `bogus-option ${ed}`,
      `command="unterminated ${ed}`,
      `ssh-ed25519 ${Buffer.concat([Buffer.from(blob, 'base64'), Buffer.from([0, 0, 0, 0])]).toString('base64')} trailing`,
      `ecdsa-sha2-nistp384 ${keys.ecdsa256!.split(' ')[1]} wrong curve`,
      ed,
    ].join('\r\n');
    const parsed = parseAuthorizedKeys(text);
    expect(parsed.keys.map((k) => k.line)).toEqual([11]);
    expect(parsed.malformed.map((m) => [m.line, m.reason])).toEqual([
      [3, 'no key type sshd knows'],
      [4, 'the key blob is a ssh-ed25519 key, not ssh-rsa'],
      [5, 'the ssh-ed25519 key blob is truncated'],
      [6, 'the ssh-ed25519 key is not valid base64'],
      [7, 'unknown option "bogus-option" (sshd rejects the line)'],
      [8, 'unterminated quote in the options'],
      [9, 'the ssh-ed25519 key blob has trailing data'],
      [10, 'the key blob is a ecdsa-sha2-nistp256 key, not ecdsa-sha2-nistp384'],
    ]);
  });

  it('survives binary junk and huge lines quickly', () => {
    const junk = Buffer.alloc(200_000);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 256;
    const huge = `command="${'"'.repeat(100_000)}${' ,'.repeat(100_000)} ${'A'.repeat(300_000)}`;
    const parsed = parseAuthorizedKeys(`${junk.toString('latin1')}\n${huge}\n${keys.ed25519!}\n`);
    expect(parsed.keys).toHaveLength(1);
    expect(parsed.malformed.length).toBeGreaterThan(0);
  }, 30_000);
});

describe('ssh-keys check', () => {
  let scratch: string;
  let infected: string;
  let clean: string;
  let adminKey: string;
  let deployKey: string;

  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-sshcheck-');
    infected = path.join(scratch, 'infected');
    clean = path.join(scratch, 'clean');
    for (const name of ['admin', 'deploy']) {
      const file = path.join(scratch, name);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@corp`, '-f', file]);
    }
    adminKey = (await readFile(path.join(scratch, 'admin.pub'), 'utf8')).trim();
    deployKey = (await readFile(path.join(scratch, 'deploy.pub'), 'utf8')).trim();

    await put(infected, 'etc/passwd', PASSWD + '\n');
    await put(infected, 'root/.ssh/authorized_keys', [adminKey, `ssh-rsa ${OUTLAW_BLOB} mdrfckr`, 'garbage that is no key', ''].join('\n'));
    await run('chattr', ['+i', path.join(infected, 'root/.ssh/authorized_keys')]);
    // Outlaw's key with its comment edited away: found by fingerprint alone.
    await put(infected, 'root/.ssh/authorized_keys2', `no-pty ssh-rsa ${OUTLAW_BLOB} backup@corp\n`);
    await put(infected, 'home/admin/.ssh/authorized_keys', `${adminKey}\n`);
    await chown(path.join(infected, 'home/admin/.ssh/authorized_keys'), 1000, 1000);
    await put(infected, 'home/admin/.ssh/authorized_keys2', `command="/usr/bin/backup --run",from="10.0.0.1,10.0.0.2" ${adminKey}\n`);
    await chown(path.join(infected, 'home/admin/.ssh/authorized_keys2'), 4242, 4242);
    // deploy's keys live elsewhere, through an absolute symlink that must resolve inside the root.
    await put(infected, 'etc/ssh/keys/deploy', `${deployKey}\n`);
    await mkdir(path.join(infected, 'srv/deploy/.ssh'), { recursive: true });
    await symlink('/etc/ssh/keys/deploy', path.join(infected, 'srv/deploy/.ssh/authorized_keys'));
    // Two accounts share /home/ops (one written with a trailing slash): one file, reported once.
    await put(infected, 'home/ops/.ssh/authorized_keys', `${deployKey}\n`);
    await chown(path.join(infected, 'home/ops/.ssh/authorized_keys'), 1003, 1003);

    await put(clean, 'etc/passwd', PASSWD + '\n');
    await put(clean, 'root/.ssh/authorized_keys', `${adminKey}\n`);
    await put(clean, 'home/admin/.ssh/authorized_keys', `${adminKey}\n`);
    await chown(path.join(clean, 'home/admin/.ssh/authorized_keys'), 1000, 1000);
  });
  afterAll(async () => {
    if (scratch) await removeScratchDir(scratch);
  });

  it('inventories every key and raises the planted ones', async () => {
    const result = await scanDirectory(infected, [sshKeysCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(
      [
        'info ssh.authorized-key /root/.ssh/authorized_keys:1',
        'info ssh.authorized-key /root/.ssh/authorized_keys:2',
        'critical outlaw.ssh-key /root/.ssh/authorized_keys:2 [outlaw]',
        'critical outlaw.ssh-key-fingerprint /root/.ssh/authorized_keys:2 [outlaw]',
        'low ssh.malformed-line /root/.ssh/authorized_keys:3',
        'high ssh.key-in-locked-file /root/.ssh/authorized_keys',
        'info ssh.authorized-key /root/.ssh/authorized_keys2:1',
        'critical outlaw.ssh-key-fingerprint /root/.ssh/authorized_keys2:1 [outlaw]',
        'info ssh.authorized-key /home/admin/.ssh/authorized_keys:1',
        'info ssh.authorized-key /home/admin/.ssh/authorized_keys2:1',
        'medium ssh.foreign-owner /home/admin/.ssh/authorized_keys2',
        'info ssh.authorized-key /etc/ssh/keys/deploy:1',
        'low ssh.root-owned-key-file /etc/ssh/keys/deploy',
        'info ssh.authorized-key /home/ops/.ssh/authorized_keys:1',
      ].sort(),
    );
    expect(result.filesExamined).toBe(6);
  });

  it('says what each key is, as ssh-keygen does, and how to remove it', async () => {
    const result = await scanDirectory(infected, [sshKeysCheck]);
    const find = (rule: string, p: string, line?: number) => result.findings.find((f) => f.rule === rule && f.path === p && f.line === line)!;

    const outlaw = find('outlaw.ssh-key', '/root/.ssh/authorized_keys', 2);
    expect(outlaw.evidence).toBe(`2048 ${OUTLAW_FINGERPRINT} mdrfckr (RSA)`);
    expect(outlaw.message).toBe(`root accepts Outlaw's SSH key (ssh-rsa ${OUTLAW_FINGERPRINT}, comment "mdrfckr")`);
    // The file is immutable: chattr first, then the line goes.
    expect(outlaw.remediation).toMatch(/^chattr -ia \/root\/\.ssh\/authorized_keys\nsed -i '2d' \/root\/\.ssh\/authorized_keys/);

    const inventory = find('ssh.authorized-key', '/root/.ssh/authorized_keys', 1);
    const [, fp] = (await run('ssh-keygen', ['-lf', path.join(scratch, 'admin.pub')])).stdout.split(' ');
    expect(inventory.evidence).toBe(`256 ${fp} admin@corp (ED25519)`);
    expect(inventory.message).toBe(`root accepts the ED25519 key ${fp} (admin@corp)`);
    expect(inventory.remediation).toContain(`chattr -ia /root/.ssh/authorized_keys\nsed -i '1d' /root/.ssh/authorized_keys   # deletes line 1: ssh-ed25519 `);

    const options = find('ssh.authorized-key', '/home/admin/.ssh/authorized_keys2', 1);
    expect(options.message).toBe(`admin accepts the ED25519 key ${fp} (admin@corp) with options command="/usr/bin/backup --run",from="10.0.0.1,10.0.0.2"`);
    expect(options.remediation).not.toContain('chattr');

    const locked = find('ssh.key-in-locked-file', '/root/.ssh/authorized_keys');
    expect(locked.evidence).toBe(`immutable (chattr +i); 2 key(s): ${fp} admin@corp; ${OUTLAW_FINGERPRINT} mdrfckr`);
    expect(locked.remediation).toContain('chattr -ia /root/.ssh/authorized_keys');

    const malformed = find('ssh.malformed-line', '/root/.ssh/authorized_keys', 3);
    expect(malformed.evidence).toBe('garbage that is no key');
    expect(malformed.message).toContain('no key type sshd knows');

    const foreign = find('ssh.foreign-owner', '/home/admin/.ssh/authorized_keys2');
    expect(foreign.message).toContain('belongs to uid 4242, not to admin (uid 1000)');
    expect(foreign.remediation).toContain('chown admin: /home/admin/.ssh/authorized_keys2');

    const deploy = find('ssh.authorized-key', '/etc/ssh/keys/deploy', 1);
    expect(deploy.message).toMatch(/^deploy accepts/);
    expect(deploy.remediation).toContain("sed -i '1d' /etc/ssh/keys/deploy");
    expect(find('ssh.authorized-key', '/home/ops/.ssh/authorized_keys', 1).message).toMatch(/^ops1, ops2 accepts/);
  });

  it('gives only the info inventory on a clean tree', async () => {
    const result = await scanDirectory(clean, [sshKeysCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(['info ssh.authorized-key /home/admin/.ssh/authorized_keys:1', 'info ssh.authorized-key /root/.ssh/authorized_keys:1']);
  });

  it('reads a key file padded with a megabyte of comments to the end, as sshd does', async () => {
    const tree = path.join(scratch, 'huge');
    const filler = `${'#'.repeat(1023)}\n`.repeat(1100);
    await put(tree, 'root/.ssh/authorized_keys', `${adminKey}\n${filler}ssh-rsa ${OUTLAW_BLOB} mdrfckr\n`);
    const result = await scanDirectory(tree, [sshKeysCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual([
      'critical outlaw.ssh-key /root/.ssh/authorized_keys:1102 [outlaw]',
      'critical outlaw.ssh-key-fingerprint /root/.ssh/authorized_keys:1102 [outlaw]',
      'info ssh.authorized-key /root/.ssh/authorized_keys:1',
      'info ssh.authorized-key /root/.ssh/authorized_keys:1102',
    ]);
  });

  it('looks at /root even when /etc/passwd is missing', async () => {
    const bare = path.join(scratch, 'bare');
    await put(bare, 'root/.ssh/authorized_keys', `ssh-rsa ${OUTLAW_BLOB} mdrfckr\n`);
    const result = await scanDirectory(bare, [sshKeysCheck]);
    expect(summary(result.findings)).toEqual([
      'critical outlaw.ssh-key /root/.ssh/authorized_keys:1 [outlaw]',
      'critical outlaw.ssh-key-fingerprint /root/.ssh/authorized_keys:1 [outlaw]',
      'info ssh.authorized-key /root/.ssh/authorized_keys:1',
    ]);
  });
});
