/**
 * Which persistence files are a package's own program files rather than configuration:
 * a distribution's rc-local.service starts /etc/rc.local by design, and when rc.local
 * is malicious the unit line is no intruder's entry to remove. A configuration file
 * (dpkg conffiles, RPM %config: /etc/crontab) is the admin's, and an intruder's line in
 * it counts. Whether the bytes are still the package's is the package-integrity check's
 * question: a changed file carries its finding, and a file with a finding is never
 * treated as stock (src/engine/correlate.ts).
 */
import type { Facts } from '../facts/facts.js';
import { mergedUsrAliases } from '../facts/package-path.js';

/** The subset of `paths` some package installs as a non-configuration file. */
export async function packagedProgramFiles(facts: Facts, paths: Iterable<string>): Promise<Set<string>> {
  const wanted = new Map<string, string>();
  for (const p of paths) for (const alias of mergedUsrAliases(p)) wanted.set(alias, p);
  const program = new Set<string>();
  const config = new Set<string>();
  if (wanted.size === 0) return program;
  for (const db of await facts.packageDatabases()) {
    for await (const file of db.files()) {
      const path = wanted.get(file.path);
      if (path !== undefined) (file.config ? config : program).add(path);
    }
  }
  for (const p of config) program.delete(p);
  return program;
}
