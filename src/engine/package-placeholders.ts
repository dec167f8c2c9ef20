/**
 * Placeholders of the rule packs that only the engine can fill, because they depend on
 * the scanned root rather than on what a check saw: `{ownerQuery}`, the command that
 * names the package owning the finding's file, in the root's own package tools
 * (src/facts/package-manager.ts). A rule stays data ("dpkg -S" or "rpm -qf" is never
 * written in a pack), and the package databases are read only when a finding asks.
 */
import type { Finding } from '../model/finding.js';
import type { Facts } from '../facts/facts.js';

const OWNER_QUERY = '{ownerQuery}';

/** Fills the placeholders in place. Runs before correlation, which quotes remediations whole. */
export async function fillPackagePlaceholders(findings: Finding[], facts: Facts): Promise<void> {
  const asking = findings.filter((f) => f.remediation.includes(OWNER_QUERY) || f.message.includes(OWNER_QUERY));
  if (asking.length === 0) return;
  const commands = await facts.packageCommands();
  for (const f of asking) {
    const query = commands.ownerQuery(f.path);
    f.remediation = f.remediation.replaceAll(OWNER_QUERY, query);
    f.message = f.message.replaceAll(OWNER_QUERY, query);
  }
}
