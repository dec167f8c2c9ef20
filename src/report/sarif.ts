/**
 * SARIF 2.1.0 (OASIS, https://docs.oasis-open.org/sarif/sarif/v2.1.0/), the format code
 * scanning and security tooling ingest: one run per scanned target (per instance for a
 * fleet). Each run lists the rules its results name, with the pack's message template
 * as description and the remediation as help; a result carries the finding's message,
 * a level and `security-severity` from its severity, its file as a URI relative to the
 * scanned root (its line when it has one), and a fingerprint stable across scans
 * (fingerprint.ts). An incomplete scan says so in its invocation: not successful, each
 * error a notification. Findings an --ignore entry accepted carry a SARIF suppression.
 */
import type * as Sarif from 'sarif';
import type { Severity } from '../model/finding.js';
import type { ReportError, ReportFinding, ScanReport } from '../model/report.js';
import type { Rule } from '../rules/types.js';
import { FINGERPRINT_NAME, fingerprint } from './fingerprint.js';
import { expiredIgnoreWarnings } from './suppress.js';

const SCHEMA = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

/** critical and high fail a build, medium warns, low and info inform. */
const LEVELS: Record<Severity, Sarif.Result.level> = { critical: 'error', high: 'error', medium: 'warning', low: 'note', info: 'note' };

/** On the 0-10 scale code scanning reads (9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low). */
const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0', info: '0.0' };

export interface SarifRun {
  report: ScanReport;
  /** What names this scan among others of the same kind (a fleet's "REGION/INSTANCE"). */
  id?: string;
}

/** A scan that gave no report (a fleet instance that could not be scanned): a run with no results, not successful. */
export interface FailedSarifRun {
  failed: { id: string; target: string; reason: string; version: string };
}

/** The rules of the packs, by id; a finding whose rule is not among them gets a descriptor from the finding alone. */
export type RuleLookup = (id: string) => Rule | undefined;

export function renderSarif(runs: Array<SarifRun | FailedSarifRun>, rules: RuleLookup): string {
  return JSON.stringify(sarifLog(runs, rules), null, 2) + '\n';
}

export function sarifLog(runs: Array<SarifRun | FailedSarifRun>, rules: RuleLookup): Sarif.Log {
  return { $schema: SCHEMA, version: '2.1.0', runs: runs.map((r) => ('failed' in r ? failedRun(r.failed) : sarifRun(r, rules))) };
}

function failedRun({ id, target, reason, version }: FailedSarifRun['failed']): Sarif.Run {
  return {
    tool: { driver: { name: 'minescan', version, semanticVersion: version, rules: [] } },
    automationDetails: { id: `${id}/` },
    invocations: [{ executionSuccessful: false, toolExecutionNotifications: [{ level: 'error', message: { text: `${target} could not be scanned: ${reason}` }, descriptor: { id: 'scan-failed' } }] }],
    results: [],
    properties: { target, status: 'failed' },
  };
}

function sarifRun({ report, id }: SarifRun, rules: RuleLookup): Sarif.Run {
  const ruleIds = [...new Set(report.findings.map((f) => f.rule))].sort();
  const descriptors = ruleIds.map((ruleId) => descriptor(ruleId, rules(ruleId), report.findings.find((f) => f.rule === ruleId)!));
  const index = new Map(ruleIds.map((ruleId, i) => [ruleId, i]));
  return {
    tool: { driver: { name: report.tool.name, version: report.tool.version, semanticVersion: report.tool.version, rules: descriptors } },
    ...(id ? { automationDetails: { id: `${id}/` } } : {}),
    invocations: [invocation(report)],
    originalUriBaseIds: baseIds(report),
    results: report.findings.map((f) => result(f, index.get(f.rule)!)),
    properties: { target: report.target, status: report.status, summary: report.summary, ...(report.source ? { source: { kind: report.source.kind, format: report.source.format } } : {}) },
  };
}

/** A rule's templates with their placeholders shown as <name>: the run's results carry the filled-in text. */
const template = (text: string) => text.replace(/\{(\w+)(?::q)?\}/g, '<$1>').trim();

function descriptor(id: string, rule: Rule | undefined, example: ReportFinding): Sarif.ReportingDescriptor {
  const severity = rule?.severity ?? example.severity;
  const category = rule?.category ?? example.category;
  const message = rule ? template(rule.message) : example.message;
  const help = rule ? template(rule.remediation) : example.remediation;
  const family = rule?.family ?? example.family;
  return {
    id,
    shortDescription: { text: message },
    fullDescription: { text: `${message} (${severity}, ${category}${family ? `, family ${family}` : ''})` },
    ...(help ? { help: { text: help } } : {}),
    ...(rule?.references.length ? { helpUri: rule.references[0] } : {}),
    defaultConfiguration: { level: LEVELS[severity] },
    properties: { category, severity, 'security-severity': SECURITY_SEVERITY[severity], tags: ['security', category, ...(family ? [family] : [])] },
  };
}

function result(f: ReportFinding, ruleIndex: number): Sarif.Result {
  const region: Sarif.Region | undefined = f.line !== undefined ? { startLine: f.line, ...(f.evidence ? { snippet: { text: f.evidence } } : {}) } : undefined;
  return {
    ruleId: f.rule,
    ruleIndex,
    level: LEVELS[f.severity],
    message: { text: f.message },
    locations: [{ physicalLocation: { artifactLocation: artifact(f.path, f.volume), ...(region ? { region } : {}) } }],
    partialFingerprints: { [FINGERPRINT_NAME]: fingerprint(f) },
    ...(f.suppressed
      ? { suppressions: [{ kind: 'external', status: 'accepted', justification: f.suppressed.reason, location: { physicalLocation: { artifactLocation: { uri: fileUri(f.suppressed.entry.replace(/:\d+$/, '')) } } } }] }
      : {}),
    properties: {
      severity: f.severity,
      'security-severity': SECURITY_SEVERITY[f.severity],
      category: f.category,
      evidence: f.evidence,
      remediation: f.remediation,
      ...(f.family ? { family: f.family } : {}),
      ...(f.indicators ? { indicators: f.indicators } : {}),
      ...(f.related ? { related: f.related } : {}),
      ...(f.suppressed ? { suppressed: f.suppressed } : {}),
    },
  };
}

/** The scanned root, or, when the target held several scanned filesystems, each volume's root. */
const ROOT = 'SCANROOT';
const volumeBase = (volume: number) => `VOLUME${volume}`;

function baseIds(report: ScanReport): Record<string, Sarif.ArtifactLocation> {
  const out: Record<string, Sarif.ArtifactLocation> = { [ROOT]: { description: { text: `The root of the filesystem minescan scanned in ${report.target}.` } } };
  for (const v of new Set(report.findings.map((f) => f.volume).filter((v): v is number => v !== undefined))) {
    const listed = report.source?.volumes[v];
    out[volumeBase(v)] = { description: { text: `The root of volume ${v} of ${report.target}${listed ? ` (${listed.scheme} ${listed.type}, ${listed.filesystem ?? 'no filesystem'})` : ''}.` } };
  }
  return out;
}

/** A path inside the scanned root as a relative URI: each segment escaped, ':' too, so no segment reads as a scheme. */
function artifact(file: string, volume: number | undefined): Sarif.ArtifactLocation {
  const relative = file.split('/').filter((s) => s !== '').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
  return { uri: relative === '' ? '.' : relative, uriBaseId: volume === undefined ? ROOT : volumeBase(volume) };
}

/** A file of the scanning host (the --ignore file) as a file: URI, or as a relative reference when it was named relatively. */
function fileUri(file: string): string {
  const segments = file.split('/').map((s) => encodeURIComponent(s));
  return file.startsWith('/') ? `file://${segments.join('/')}` : segments.join('/').replace(/^([^/]*):/, '$1%3A');
}

function invocation(report: ScanReport): Sarif.Invocation {
  const notifications: Sarif.Notification[] = [
    ...report.errors.map(errorNotification),
    ...(report.errorsOmitted > 0 ? [{ level: 'error' as const, message: { text: `${report.errorsOmitted} more errors were left out of the report.` }, descriptor: { id: 'errors-omitted' } }] : []),
    ...report.notes.map((n) => ({ level: 'note' as const, message: { text: n }, descriptor: { id: 'note' } })),
    ...expiredIgnoreWarnings(report).map((text) => ({ level: 'warning' as const, message: { text }, descriptor: { id: 'ignore-expired' } })),
  ];
  return {
    executionSuccessful: report.status === 'complete',
    ...(report.startedAt ? { startTimeUtc: report.startedAt } : {}),
    ...(report.finishedAt ? { endTimeUtc: report.finishedAt } : {}),
    ...(notifications.length ? { toolExecutionNotifications: notifications } : {}),
  };
}

function errorNotification(e: ReportError): Sarif.Notification {
  const where = e.path !== undefined ? [{ physicalLocation: { artifactLocation: artifact(e.path, e.volume) } }] : undefined;
  const detail = [e.structure ? `${e.structure}${e.offset !== undefined ? ` at byte ${e.offset}` : ''}` : '', e.check ? `check ${e.check}` : '', e.count ? `${e.count} times` : ''].filter(Boolean).join('; ');
  return {
    level: 'error',
    message: { text: `${e.message}${detail ? ` (${detail})` : ''}` },
    descriptor: { id: e.kind },
    ...(where ? { locations: where } : {}),
    properties: { ...e },
  };
}

/** The lookup over a loaded rule set. */
export function ruleLookup(rules: { all(): Rule[] }): RuleLookup {
  const byId = new Map(rules.all().map((r) => [r.id, r]));
  return (id) => byId.get(id);
}
