/**
 * A Task Scheduler 1.0 task, Windows\Tasks\*.job (MS-TSCH 2.4, ".JOB File Format"): a
 * 68-byte fixed section (versions, the offset of the variable section, flags) and a
 * variable section whose first strings are the application name, its parameters and
 * its working directory, each a 16-bit count of UTF-16LE characters (the terminating NUL
 * included) and the characters. Old, but still read by Windows and still planted.
 * Every count and offset is checked against the file; failures are typed `corrupt`.
 */
import { BinaryView } from '../../../mountfs/binary.js';

export interface JobTask {
  application: string;
  parameters: string;
  workingDirectory: string;
  hidden: boolean;
  disabled: boolean;
}

const STRUCTURE = '.job task';
const FIXED_LENGTH = 68;
/** TASK_FLAG_HIDDEN and TASK_FLAG_DISABLED (mstask.h). */
const FLAG_HIDDEN = 0x200;
const FLAG_DISABLED = 0x4;

export function parseJob(bytes: Buffer): JobTask {
  const view = new BinaryView(bytes, STRUCTURE);
  view.u32le(FIXED_LENGTH - 4);
  const appNameOffset = view.u16le(20);
  const flags = view.u32le(48);
  let at = appNameOffset;
  const next = (): string => {
    const chars = view.u16le(at);
    const s = chars === 0 ? '' : view.bytes(at + 2, chars * 2).toString('utf16le').replace(/\0+$/, '');
    at += 2 + chars * 2;
    return s;
  };
  const application = next();
  const parameters = next();
  const workingDirectory = next();
  return { application, parameters, workingDirectory, hidden: (flags & FLAG_HIDDEN) !== 0, disabled: (flags & FLAG_DISABLED) !== 0 };
}
