/**
 * SIGINT/SIGTERM during a scan: the spools of compressed disks and zip members
 * (mountfs/sources/temp-spool.ts) are removed before the process exits with
 * 128+signal. Where a cloud target has installed its own handler (cloud/cleanup.ts),
 * that handler releases the cloud resources and exits; the spools then go here and in
 * temp-spool's 'exit' hook.
 */
import { removeAllSpools } from '../../mountfs/sources/temp-spool.js';

let installed = false;

export function removeSpoolsOnSignals(): void {
  if (installed) return;
  installed = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const handler = () => {
      removeAllSpools();
      // Another handler (cloud cleanup) still has asynchronous work and exits itself.
      if (process.listenerCount(signal) === 0) process.exit(code);
    };
    process.once(signal, handler);
  }
}
