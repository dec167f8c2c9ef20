/**
 * The order an instance's disks are scanned and listed in: root first, then device
 * names compared naturally.
 */
import { describe, expect, it } from 'vitest';
import { compareDeviceNames, orderDisks } from '../../cloud/disk-order.js';

describe('disk order', () => {
  it('compares device names naturally: numbers as numbers, xvdz before xvdaa', () => {
    const names = ['/dev/xvdaa', '/dev/sdf', '/dev/nvme10n1', '/dev/xvdz', '/dev/sdb', '/dev/nvme2n1', '/dev/xvdb', '/dev/sdb1'];
    expect([...names].sort(compareDeviceNames)).toEqual(['/dev/sdb', '/dev/sdb1', '/dev/sdf', '/dev/nvme2n1', '/dev/nvme10n1', '/dev/xvdb', '/dev/xvdz', '/dev/xvdaa']);
  });

  it('puts the root disk first, then data disks by device, those without a device last', () => {
    const disks = [
      { volumeId: 'vol-c', device: '/dev/xvdf', root: false },
      { volumeId: 'vol-n', root: false },
      { volumeId: 'vol-b', device: '/dev/sdb', root: false },
      { volumeId: 'vol-a', device: '/dev/xvda', root: true },
    ];
    expect(orderDisks(disks).map((d) => d.volumeId)).toEqual(['vol-a', 'vol-b', 'vol-c', 'vol-n']);
  });
});
