/**
 * The --ignore file's parser: every malformed entry fails naming the file and the line
 * of what is wrong, dates are real dates, an entry lasts through its expiry day (UTC),
 * and rules, paths, targets and instances match as globs.
 */
import { describe, expect, it } from 'vitest';
import { IgnoreFileError, isExpired, parseIgnoreFile } from '../../src/report/ignore-file.js';

const entry = (fields: string) => `ignore:\n  - rule: cron.x\n    path: /etc/cron.d/*\n${fields}`;

describe('the --ignore file', () => {
  it.each([
    ['a missing reason', 'ignore:\n  - rule: r\n    path: /x\n', 2, '"reason" is missing'],
    ['an empty reason', entry('    reason: ""\n'), 4, '"reason" must be a non-empty string'],
    ['a date that is not one', entry('    reason: r\n    expires: next week\n'), 5, '"expires" must be a date'],
    ['a day that does not exist', entry('    reason: r\n    expires: 2026-02-30\n'), 5, '"expires" must be a date'],
    ['an unknown field', entry('    reason: r\n    owner: me\n'), 5, 'unknown field "owner"'],
    ['a relative path', 'ignore:\n  - rule: r\n    path: etc/x\n    reason: r\n', 3, '"path" is a path inside the scanned root'],
    ['broken YAML', 'ignore:\n  - rule: r\n    path: /x\n   reason: [\n', 4, ''],
    ['an unknown top-level key', 'ignores:\n  - rule: r\n', 1, 'unknown field "ignores"'],
    ['entries that are not a list', 'ignore: {a: 1}\n', 1, '"ignore" must be a list'],
    ['a file that is a list', '- a\n', 1, 'a mapping with "ignore:"'],
  ])('refuses %s, naming file and line', (_what, text, line, message) => {
    let error: unknown;
    try {
      parseIgnoreFile(text, 'accepted.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IgnoreFileError);
    expect((error as IgnoreFileError).line).toBe(line);
    expect((error as Error).message).toMatch(new RegExp(`^accepted\\.yaml:${line}: `));
    expect((error as Error).message).toContain(message);
  });

  it('reads entries with their line, and an empty list', () => {
    const list = parseIgnoreFile(`# reviewed weekly\n${entry('    reason: vendor job\n    expires: 2026-06-30\n    instance: i-0*\n')}`, 'a.yaml');
    expect(list.entries.map((e) => [e.rule, e.path, e.reason, e.expires, e.instance, e.entry])).toEqual([['cron.x', '/etc/cron.d/*', 'vendor job', '2026-06-30', 'i-0*', 'a.yaml:3']]);
    expect(parseIgnoreFile('ignore:\n', 'b.yaml').entries).toEqual([]);
  });

  it('matches rules, paths, targets and instances as globs, hidden files included', () => {
    const [e] = parseIgnoreFile('ignore:\n  - rule: "command.*"\n    path: /var/tmp/**\n    target: "aws:instance/*"\n    instance: i-0a*\n    reason: r\n', 'c.yaml').entries;
    expect(e!.matchRule('command.download-and-run')).toBe(true);
    expect(e!.matchRule('cron.x')).toBe(false);
    expect(e!.matchPath('/var/tmp/.ICE-unix/.x/c.json')).toBe(true);
    expect(e!.matchPath('/etc/passwd')).toBe(false);
    expect(e!.matchTarget('aws:instance/i-0a1')).toBe(true);
    expect(e!.matchInstance('i-0b1')).toBe(false);
  });

  it('suppresses through its expiry day, UTC, and not after', () => {
    const [e] = parseIgnoreFile(entry('    reason: r\n    expires: 2026-06-30\n'), 'd.yaml').entries;
    expect(isExpired(e!, new Date('2026-06-30T23:59:59Z'))).toBe(false);
    expect(isExpired(e!, new Date('2026-07-01T00:00:00Z'))).toBe(true);
  });
});
