/**
 * Words and commands for the immutable / append-only inode flags, shared by the
 * checks that have to tell an operator to clear them before cleaning a file.
 */
import type { InodeFlags } from '../../mountfs/vfs.js';
import { shellQuote } from '../rules/ruleset.js';

/** "immutable", "append-only", both, or '' when neither flag is set or flags are unknown. */
export function flagWords(flags: InodeFlags | undefined): string {
  if (!flags) return '';
  return [flags.immutable ? 'immutable (chattr +i)' : '', flags.appendOnly ? 'append-only (chattr +a)' : ''].filter(Boolean).join(' and ');
}

/** "chattr -ia PATH\n" when the file is locked, so the next command of a remediation can work. */
export function unlockPrefix(path: string, flags: InodeFlags | undefined): string {
  return flagWords(flags) ? `chattr -ia ${shellQuote(path)}\n` : '';
}
