/**
 * The EC2 instances of a fleet: DescribeInstances, every page, in each region asked
 * for, narrowed by tag filters (tag:KEY=VALUE), terminated instances left out.
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { withRetries } from '../retry.js';
import type { FleetInstance, TagFilter } from '../instance-listing.js';

export async function listAwsInstances(regions: string[], filters: TagFilter[], endpoint?: string, signal?: AbortSignal): Promise<FleetInstance[]> {
  const out: FleetInstance[] = [];
  for (const region of regions) {
    const ec2 = new EC2Client({ region, endpoint, maxAttempts: 1 });
    try {
      let token: string | undefined;
      do {
        const page = await withRetries(
          () =>
            ec2.send(
              new DescribeInstancesCommand({
                Filters: [
                  ...filters.map((f) => ({ Name: `tag:${f.key}`, Values: [f.value] })),
                  { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
                ],
                MaxResults: 1000,
                NextToken: token,
              }),
            ),
          `DescribeInstances ${region}`,
          { signal },
        );
        for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) out.push({ id: i.InstanceId, region });
        token = page.NextToken;
      } while (token);
    } finally {
      ec2.destroy();
    }
  }
  return out;
}
