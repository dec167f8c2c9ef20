/**
 * A target minescan cannot read at all still gets a report (exit 2), and its error
 * keeps what the reader knew: a qcow2 header with an impossible cluster size is a
 * `corrupt` error naming the qcow2 header and the byte offset of the field, not a bare
 * message. The image is made by qemu-img and damaged in one field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { cli } from '../helpers/run-cli.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import type { ScanReport } from '../../src/model/report.js';

const run = promisify(execFile);
/** QCOW2 header field cluster_bits (docs/interop/qcow2.txt). */
const CLUSTER_BITS_OFFSET = 20;

let scratch: string;
beforeAll(async () => {
  scratch = await makeScratchDir('minescan-unreadable-');
});
afterAll(async () => {
  await removeScratchDir(scratch);
});

describe('the report of an unreadable target', () => {
  it('keeps the kind, structure and offset of the error that made it unreadable', async () => {
    const image = path.join(scratch, 'bad-clusters.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    const fh = await open(image, 'r+');
    const bits = Buffer.alloc(4);
    bits.writeUInt32BE(99, 0);
    await fh.write(bits, 0, 4, CLUSTER_BITS_OFFSET);
    await fh.close();

    const { code, stdout } = await cli(['scan', image, '--format', 'json']);
    expect(code).toBe(2);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.status).toBe('incomplete');
    expect(report.errors).toEqual([
      { kind: 'corrupt', structure: 'qcow2 header', offset: CLUSTER_BITS_OFFSET, message: expect.stringMatching(/cluster_bits 99 is outside/) },
    ]);
  });

  it('gives an io error for a target that does not exist', async () => {
    const { code, stdout } = await cli(['scan', path.join(scratch, 'missing.img'), '--format', 'json']);
    expect(code).toBe(2);
    const report: ScanReport = JSON.parse(stdout);
    expect(report.errors).toEqual([{ kind: 'io', message: expect.stringMatching(/^cannot open .*missing\.img: ENOENT/) }]);
  });
});
