/**
 * What every provider's fleet listing takes and gives (cloud/aws/instances.ts,
 * cloud/aliyun/instances.ts): tag filters from the command line, and the instances
 * found, each with its region.
 */

export interface FleetInstance {
  id: string;
  region: string;
}

export interface TagFilter {
  key: string;
  value: string;
}

export function parseTagFilter(text: string): TagFilter {
  const m = /^tag:([^=]+)=(.*)$/.exec(text);
  if (!m) throw new Error(`filter "${text}" is not tag:KEY=VALUE`);
  return { key: m[1]!, value: m[2]! };
}
