/**
 * What every command shares: where output goes, the exit codes pipelines rely on, and
 * the error that means "used wrongly" (exit 2 with the usage).
 */
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;
/** The scan could not read everything it needed (report.status "incomplete"): no verdict. */
export const EXIT_INCOMPLETE = 3;

export class UsageError extends Error {}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  isTty: boolean;
}
