/**
 * What the AWS test files share: the planted infected and clean images in a scratch
 * folder, made before the file's tests, and the fakes the tests start, every one closed
 * (its held answers let go first) after them.
 */
import { afterAll, beforeAll } from 'vitest';
import { makeScratchDir, removeScratchDir } from './images.js';
import { plantedImages, setCloudTestEnv } from './cloud-test-env.js';
import { startFakeAws, type FakeAws, type FakeAwsOptions } from './fake-aws.js';

export interface AwsScene {
  scratch: string;
  infected: string;
  clean: string;
  start(options: FakeAwsOptions): Promise<FakeAws>;
}

export function awsScene(sizes: Parameters<typeof plantedImages>[1]): AwsScene {
  const fakes: FakeAws[] = [];
  const scene: AwsScene = {
    scratch: '',
    infected: '',
    clean: '',
    start: async (options) => {
      const f = await startFakeAws(options);
      fakes.push(f);
      return f;
    },
  };
  beforeAll(async () => {
    setCloudTestEnv();
    scene.scratch = await makeScratchDir();
    Object.assign(scene, await plantedImages(scene.scratch, sizes));
  });
  afterAll(async () => {
    for (const f of fakes) {
      f.holds.releaseAll();
      await f.close();
    }
    if (scene.scratch) await removeScratchDir(scene.scratch);
  });
  return scene;
}
