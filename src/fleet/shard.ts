/**
 * Deterministic sharding of a fleet, so N copies of minescan run by an existing engine
 * (a Kubernetes Indexed Job, an AWS Batch array job) split the instances without
 * talking to each other: an instance belongs to shard (stable hash of its id) mod N.
 */
import { createHash } from 'node:crypto';

export interface Shard {
  index: number;
  count: number;
}

/** "I/N", 0-based I; also reads JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX as I when given "env/N". */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): Shard {
  const m = /^(\d+|env)\/(\d+)$/.exec(text);
  if (!m) throw new Error(`--shard "${text}" is not I/N`);
  const fromEnv = env.JOB_COMPLETION_INDEX ?? env.AWS_BATCH_JOB_ARRAY_INDEX;
  if (m[1] === 'env' && fromEnv === undefined) throw new Error('--shard env/N needs JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX');
  const index = Number(m[1] === 'env' ? fromEnv : m[1]);
  const count = Number(m[2]);
  if (!(count >= 1) || !(index >= 0) || index >= count) throw new Error(`--shard ${index}/${count}: the index must be below the count`);
  return { index, count };
}

export function inShard(instanceId: string, shard: Shard): boolean {
  const h = createHash('sha256').update(instanceId).digest();
  return h.readUInt32BE(0) % shard.count === shard.index;
}
