/**
 * A Task Scheduler 2.0 task as Windows stores it under Windows\System32\Tasks: one XML
 * document per task (the Task Scheduler schema, MS-TSCH 2.5), UTF-16LE with a byte-order
 * mark as Windows writes it, UTF-8 when a tool wrote it. What persistence needs of it:
 * the Exec actions (Command, Arguments, WorkingDirectory), whether it is hidden or
 * disabled, the account it runs as, and its trigger kinds. ComHandler actions run a COM
 * class the registry names (the registry checks' business) and are only counted.
 *
 * Hostile input: the text is bounded by the caller's read; a document with a DOCTYPE
 * (entity definitions that could expand without bound) is refused, as Windows never
 * writes one; counts of actions and triggers are capped. Failures are typed `corrupt`.
 */
import { XMLParser } from 'fast-xml-parser';
import { corrupt } from '../../../mountfs/errors.js';
import { decodeWindowsText } from './windows-text.js';

export interface TaskExec {
  command: string;
  arguments: string;
  workingDirectory: string;
}

export interface ScheduledTask {
  /** \Folder\Name as Task Scheduler names it (the URI, else the caller's name). */
  uri?: string;
  hidden: boolean;
  enabled: boolean;
  /** UserId of the principal (a SID, "SYSTEM", "DOMAIN\user"), or its GroupId. */
  runAs?: string;
  runLevel?: string;
  triggers: string[];
  execs: TaskExec[];
  /** Actions other than Exec (ComHandler, SendEmail, ShowMessage). */
  otherActions: number;
}

const STRUCTURE = 'task XML';
const MAX_ACTIONS = 32;
const MAX_TRIGGERS = 48;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: { enabled: true, maxEntityCount: 1, maxExpandedLength: 1 << 20 },
  htmlEntities: false,
});

/** The text of a task file: UTF-16LE (with or without its BOM) or UTF-8. */
export const decodeTaskText = decodeWindowsText;

export function parseTaskXml(xml: string): ScheduledTask {
  if (/<!(?:DOCTYPE|ENTITY)/i.test(xml)) throw corrupt(STRUCTURE, 'the document declares a DOCTYPE or entities, which Task Scheduler never writes');
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw corrupt(STRUCTURE, `not well-formed XML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const task = field(doc, 'Task');
  if (!isObject(task)) throw corrupt(STRUCTURE, 'no <Task> element');
  const settings = field(task, 'Settings');
  const principal = list(field(field(task, 'Principals'), 'Principal'))[0];
  const actions = field(task, 'Actions');
  const execs: TaskExec[] = list(field(actions, 'Exec'))
    .slice(0, MAX_ACTIONS)
    .map((e) => ({ command: text(field(e, 'Command')), arguments: text(field(e, 'Arguments')), workingDirectory: text(field(e, 'WorkingDirectory')) }));
  let otherActions = 0;
  if (isObject(actions)) for (const [k, v] of Object.entries(actions)) if (!k.startsWith('@') && k !== 'Exec') otherActions += list(v).length;
  const triggers: string[] = [];
  const triggerNode = field(task, 'Triggers');
  if (isObject(triggerNode)) {
    for (const [k, v] of Object.entries(triggerNode)) {
      if (k.startsWith('@')) continue;
      for (let i = 0; i < list(v).length && triggers.length < MAX_TRIGGERS; i++) triggers.push(k);
    }
  }
  const uri = text(field(field(task, 'RegistrationInfo'), 'URI'));
  const runAs = text(field(principal, 'UserId')) || text(field(principal, 'GroupId'));
  const runLevel = text(field(principal, 'RunLevel'));
  return {
    ...(uri ? { uri } : {}),
    hidden: text(field(settings, 'Hidden')).toLowerCase() === 'true',
    enabled: text(field(settings, 'Enabled')).toLowerCase() !== 'false',
    ...(runAs ? { runAs } : {}),
    ...(runLevel ? { runLevel } : {}),
    triggers,
    execs,
    otherActions,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field(v: unknown, name: string): unknown {
  if (Array.isArray(v)) v = v[0];
  return isObject(v) ? v[name] : undefined;
}

function list(v: unknown): unknown[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** An element's text: a string, or the #text of an element with attributes. */
function text(v: unknown): string {
  if (Array.isArray(v)) v = v[0];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (isObject(v) && typeof v['#text'] === 'string') return v['#text'];
  return '';
}
