/**
 * Runs the minescan command line in-process, capturing what it prints.
 */
import { main, type Io } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], isTty = false): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), isTty };
  const code = await main(args, io);
  return { code, stdout, stderr };
}
