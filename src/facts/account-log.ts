/**
 * Account creations recorded in the logs: shadow-utils' useradd lines in
 * /var/log/auth.log (Debian) and /var/log/secure (RHEL), and audit ADD_USER records in
 * /var/log/audit/audit.log. Logs can be huge: only their last megabytes are read, where
 * a recent intrusion is.
 */
import type { Vfs } from '../../mountfs/vfs.js';

export const ACCOUNT_LOGS = ['/var/log/auth.log', '/var/log/auth.log.1', '/var/log/secure', '/var/log/secure.1', '/var/log/audit/audit.log', '/var/log/audit/audit.log.1'];
const TAIL_BYTES = 8 << 20;

export interface AccountCreation {
  path: string;
  line: number;
  name: string;
  uid?: number;
  text: string;
}

const USERADD = /useradd\[\d+\]: new user: name=([^,\s]+), UID=(\d+)/;
const AUDIT_ADD_USER = /type=ADD_USER\b.*?\bid=(\d+)\b.*?\bacct="?([^"\s]+)"?/;

export async function readAccountCreations(vfs: Vfs, onError: (path: string, err: unknown) => void): Promise<AccountCreation[]> {
  const out: AccountCreation[] = [];
  for (const path of ACCOUNT_LOGS) {
    let text: string;
    let firstLine = 1;
    try {
      if (!(await vfs.exists(path))) continue;
      const st = await vfs.stat(path);
      if (st.type !== 'file') continue;
      const offset = Math.max(0, st.size - TAIL_BYTES);
      text = (await vfs.readFile(path, { offset, maxBytes: TAIL_BYTES })).toString('utf8');
      if (offset > 0) {
        // Drop the partial first line; line numbers are then unknown, counted from the cut.
        text = text.slice(text.indexOf('\n') + 1);
        firstLine = NaN;
      }
    } catch (err) {
      onError(path, err);
      continue;
    }
    text.split('\n').forEach((line, i) => {
      const u = USERADD.exec(line);
      const a = u ? null : AUDIT_ADD_USER.exec(line);
      if (!u && !a) return;
      const name = u ? u[1]! : a![2]!;
      const uid = Number(u ? u[2] : a![1]);
      out.push({ path, line: firstLine + i, name, uid: Number.isFinite(uid) ? uid : undefined, text: line });
    });
  }
  return out;
}
