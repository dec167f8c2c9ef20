/**
 * EC2 is eventually consistent: right after CreateSnapshot answers, DescribeSnapshots
 * and DeleteSnapshot may still say InvalidSnapshot.NotFound, and a listing filtered by
 * tag may not list the new snapshot yet. Against the fake with that lag (counted in
 * requests), a scan still succeeds, and a create whose answer was lost, a create that
 * fails for good and a stop while a create is in flight still leave nothing minescan
 * made in the account.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/run-cli.js';
import { awsScene } from '../helpers/aws-scene.js';
import type { FakeAws, FakeLag } from '../helpers/fake-aws.js';
import { signalAt, STOP_SIGNALS } from '../helpers/cli-process.js';

describe('EC2 eventual consistency', () => {
  const scene = awsScene({ sizeMiB: 24, cleanTable: 'mbr' });

  const fake = async (lag: FakeLag) => {
    return scene.start({ volumes: { 'vol-infected': scene.infected, 'vol-clean': scene.clean }, instances: { 'i-web': ['vol-infected', 'vol-clean'] }, pendingPolls: 1, lag });
  };
  const args = (f: FakeAws, target: string) => ['scan', target, '--format', 'json', '--fail-on', 'critical', '--region', 'us-east-1', '--endpoint', f.endpoint];
  /** The snapshots minescan made (all tagged at creation); none may be left. */
  const made = (f: FakeAws) => {
    const mine = [...f.snapshots.values()].filter((s) => s.tags['minescan:created-by'] === 'minescan');
    expect(mine.filter((s) => !s.deleted).map((s) => s.id)).toEqual([]);
    return mine;
  };

  it('an instance scan waits out InvalidSnapshot.NotFound after its creates, reads both disks and deletes both snapshots', async () => {
    const f = await fake({ byId: 3, listings: 3 });
    const { code, stdout, stderr } = await cli(args(f, 'aws:instance/i-web'));
    expect(stderr).not.toMatch(/NotFound|failed|cleanup/);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.errors).toEqual([]);
    expect(report.source.volumes.map((v: { disk: { volumeId: string } }) => v.disk.volumeId)).toEqual(['vol-infected', 'vol-clean']);
    expect(made(f)).toHaveLength(2);
    // The lag was met: each snapshot was asked for by id while EC2 did not know it yet.
    for (const s of f.snapshots.values()) expect(s.unknownFor).toBe(0);
  });

  it.each([
    ['a 500', false],
    ['a dropped connection', true],
  ])('a CreateSnapshot whose answer is lost (%s) under lag: the tagged lookup keeps looking until it sees what the lost attempt made', async (_, cut) => {
    const f = await fake({ byId: 2, listings: 4 });
    f.loseCreateAnswers = 1;
    f.cutCreateAnswers = cut;
    const { code, stdout } = await cli(args(f, 'aws:volume/vol-infected'));
    expect(code).toBe(1);
    expect(JSON.parse(stdout).errors).toEqual([]);
    expect(f.loseCreateAnswers).toBe(0);
    expect(made(f)).toHaveLength(2);
    // The snapshot the lost answer made was found by the tagged listing (which left it out at first), not by chance.
    expect(f.actions.filter((a) => a === 'DescribeSnapshots').length).toBeGreaterThan(4);
  });

  it('a CreateSnapshot that fails for good after lost answers, under lag: every snapshot the attempts made is found and deleted', async () => {
    const f = await fake({ byId: 2, listings: 5 });
    f.loseCreateAnswers = 3;
    process.env.MINESCAN_CLOUD_ATTEMPTS = '3';
    try {
      const { code, stderr } = await cli(args(f, 'aws:volume/vol-infected'));
      expect(code).toBe(2);
      expect(stderr).toMatch(/CreateSnapshot vol-infected.*gave up after 3 attempts/);
      expect(stderr).not.toMatch(/could not be deleted|cleanup/);
    } finally {
      delete process.env.MINESCAN_CLOUD_ATTEMPTS;
    }
    expect(made(f)).toHaveLength(3);
  });

  it.each(STOP_SIGNALS)('%s while a CreateSnapshot is in flight, under lag: the snapshot its answer names is deleted once EC2 knows it', async (signal, exitCode) => {
    const f = await fake({ byId: 3, listings: 3 });
    const { code, stdout, stderr } = await signalAt(f.holds, { hold: 'CreateSnapshot', skip: 0 }, ['scan', 'aws:volume/vol-infected', '--region', 'us-east-1', '--endpoint', f.endpoint], signal);
    expect(code).toBe(exitCode);
    expect(stdout).toBe('');
    expect(stderr).not.toMatch(/cleanup of .* failed/);
    expect(made(f)).toHaveLength(1);
    expect(f.requestsByAction.get('DeleteSnapshot')).toBe(4);
  }, 60_000);
});
