/**
 * The ECS instances of a fleet: DescribeInstances in each region asked for, paged with
 * NextToken, narrowed by tag filters.
 */
import { createRequire } from 'node:module';
import { withRetries } from '../retry.js';
import type { FleetInstance, TagFilter } from '../instance-listing.js';
import { ecsClient } from './ecs-disk-flow.js';

const Ecs = createRequire(import.meta.url)('@alicloud/ecs20140526') as typeof import('@alicloud/ecs20140526');

export async function listAliyunInstances(regions: string[], filters: TagFilter[], endpoint?: string, signal?: AbortSignal): Promise<FleetInstance[]> {
  const out: FleetInstance[] = [];
  for (const region of regions) {
    const ecs = ecsClient({ region, endpoint });
    let token: string | undefined;
    do {
      const res = await withRetries(
        () => ecs.describeInstances(new Ecs.DescribeInstancesRequest({ regionId: region, maxResults: 100, nextToken: token, tag: filters.map((f) => ({ key: f.key, value: f.value })) })),
        `DescribeInstances ${region}`,
        { signal },
      );
      for (const i of res.body?.instances?.instance ?? []) if (i.instanceId) out.push({ id: i.instanceId, region });
      token = res.body?.nextToken || undefined;
    } while (token);
  }
  return out;
}
