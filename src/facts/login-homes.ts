/**
 * The home directories accounts log in with, from /etc/passwd: where the SSH keys, the
 * shell start-up files and the user units of each account live. Several checks look
 * in every home, so the list is a fact (Facts.loginHomes), made once.
 */
import { normalizePath } from '../../mountfs/path.js';
import type { PasswdEntry } from './passwd.js';

/** A home directory and the accounts that log in with it. */
export interface Home {
  path: string;
  users: { name: string; uid: number }[];
}

/** Every home /etc/passwd names, each once with all its accounts; /root always, as root's when passwd does not say. */
export function loginHomes(passwd: readonly PasswdEntry[]): Home[] {
  const homes = new Map<string, Home>([['/root', { path: '/root', users: [] }]]);
  for (const e of passwd) {
    if (e.home.trim() === '') continue;
    const path = normalizePath(e.home.trim());
    let home = homes.get(path);
    if (!home) homes.set(path, (home = { path, users: [] }));
    home.users.push({ name: e.name, uid: e.uid });
  }
  const root = homes.get('/root')!;
  if (root.users.length === 0) root.users.push({ name: 'root', uid: 0 });
  return [...homes.values()];
}
