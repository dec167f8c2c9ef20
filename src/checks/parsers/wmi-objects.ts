/**
 * WMI event subscriptions out of the CIM repository's OBJECTS.DATA
 * (Windows\System32\wbem\Repository): the instances of ActiveScriptEventConsumer,
 * CommandLineEventConsumer, __EventFilter and __FilterToConsumerBinding, the persistence
 * that WMI runs when an event (a timer, a process start, boot) fires.
 *
 * This is not a parse of the repository: the pages are not mapped through MAPPING*.MAP
 * and INDEX.BTR is not walked. It is a bounded scan of OBJECTS.DATA's bytes for the
 * ASCII heap strings of those four classes as an instance record lays them out: the class
 * name, then its string property values in the class's property order (a consumer's
 * Name, ScriptingEngine and ScriptText; a filter's namespace, Name, Query and
 * QueryLanguage; a binding's Consumer and Filter references). Class definitions, which
 * hold the same class names followed by property names, types and qualifiers, are told
 * apart by those. What this cannot see: values stored as UTF-16 (non-ASCII text), the
 * part of a script that continues on a page stored elsewhere (the text found is kept),
 * and whether a record still belongs to the repository: a subscription deleted but not
 * yet overwritten is reported too, which for a forensic scan is worth knowing anyway.
 */

export interface WmiConsumer {
  kind: 'ActiveScriptEventConsumer' | 'CommandLineEventConsumer';
  name: string;
  /** ScriptingEngine of a script consumer (VBScript, JScript). */
  engine?: string;
  /** ScriptText (script consumers) or the command-line values (CommandLineTemplate, ExecutablePath, WorkingDirectory). */
  texts: string[];
  /** Byte offset of the class name in OBJECTS.DATA. */
  offset: number;
}

export interface WmiFilter {
  name: string;
  query: string;
  offset: number;
}

export interface WmiBinding {
  /** 'ActiveScriptEventConsumer.Name="KillProcess"' */
  consumer: string;
  /** 'KillProcess' */
  consumerName: string;
  filterName: string;
  offset: number;
}

export interface WmiSubscriptions {
  consumers: WmiConsumer[];
  filters: WmiFilter[];
  bindings: WmiBinding[];
}

/** How far past a class name its instance's strings are looked for. */
export const RECORD_WINDOW = 64 * 1024;
/** At most this many strings are read of one record. */
const MAX_STRINGS = 24;
/** At most this many instances of each kind are kept (a repository has a handful). */
const MAX_INSTANCES = 256;

const CLASSES = ['ActiveScriptEventConsumer', 'CommandLineEventConsumer', '__EventFilter', '__FilterToConsumerBinding'] as const;
const MARKERS = CLASSES.map((c) => ({ cls: c, bytes: Buffer.from(`\0${c}\0`, 'latin1') }));
/** Strings a class definition has after its name and an instance never has. */
const DEFINITION_WORDS = new Set(['string', 'uint8', 'uint32', 'boolean', 'cimtype', 'description', 'amendment', 'locale', 'key', 'commandlinetemplate', 'scripttext', 'query', 'consumer', 'creatorsid', 'association', '__eventconsumerproviderregistration']);
const REFERENCE = /^(\w+)\.Name="((?:[^"\\]|\\.)*)"$/;

/** A printable ASCII run of at least 3 characters: one heap string (or the readable part of one). */
function stringsAfter(buf: Buffer, start: number): string[] {
  const out: string[] = [];
  const end = Math.min(buf.length, start + RECORD_WINDOW);
  let i = start;
  let zeros = 0;
  while (i < end && out.length < MAX_STRINGS) {
    let j = i;
    while (j < end && (buf[j]! >= 0x20 && buf[j]! < 0x7f || buf[j] === 0x09 || buf[j] === 0x0a || buf[j] === 0x0d)) j++;
    if (j - i >= 3) {
      out.push(buf.toString('latin1', i, j));
      zeros = 0;
      i = j;
      continue;
    }
    // A long run of zeros is the end of what the page holds of this record.
    zeros = buf[i] === 0 ? zeros + 1 : 0;
    if (zeros >= 64) break;
    i = j === i ? i + 1 : j;
  }
  return out;
}

/**
 * The subscriptions in one chunk of OBJECTS.DATA starting at `base`; `limit` bounds where a
 * class name may start (the caller overlaps chunks by RECORD_WINDOW so a record is seen whole once).
 */
export function scanWmiChunk(buf: Buffer, base: number, limit: number, into: WmiSubscriptions): void {
  for (const { cls, bytes } of MARKERS) {
    for (let at = buf.indexOf(bytes); at >= 0 && at < limit; at = buf.indexOf(bytes, at + 1)) {
      const strings = stringsAfter(buf, at + 1);
      const values = strings.slice(1);
      if (values.slice(0, 6).some((s) => DEFINITION_WORDS.has(s.toLowerCase()) || s.startsWith('\\\\.\\root'))) continue;
      const offset = base + at + 1;
      if (cls === '__FilterToConsumerBinding') {
        const consumer = values[0] ? REFERENCE.exec(values[0]) : null;
        const filter = values[1] ? REFERENCE.exec(values[1]) : null;
        if (consumer && filter && filter[1] === '__EventFilter' && into.bindings.length < MAX_INSTANCES) {
          into.bindings.push({ consumer: values[0]!, consumerName: consumer[2]!, filterName: filter[2]!, offset });
        }
      } else if (cls === '__EventFilter') {
        const q = values.slice(0, 6).findIndex((s) => /^\s*select\s/i.test(s));
        if (q > 0 && into.filters.length < MAX_INSTANCES) into.filters.push({ name: values[q - 1]!, query: values[q]!, offset });
      } else if (cls === 'ActiveScriptEventConsumer') {
        const e = values.slice(0, 4).findIndex((s) => /^(?:vbscript|jscript|javascript)$/i.test(s));
        if (e > 0 && into.consumers.length < MAX_INSTANCES) {
          into.consumers.push({ kind: cls, name: values[e - 1]!, engine: values[e]!, texts: values.slice(e + 1, e + 2), offset });
        }
      } else if (values.length > 0 && into.consumers.length < MAX_INSTANCES) {
        // CommandLineTemplate, ExecutablePath, Name, WorkingDirectory... in the class's order; the
        // name is told by the bindings (see nameCommandConsumers), else the last value that is no path or command.
        const texts = values.slice(0, 8).filter((s) => !REFERENCE.test(s));
        const name = [...texts].reverse().find((s) => !/[\\/\s]/.test(s)) ?? texts[texts.length - 1] ?? '';
        into.consumers.push({ kind: cls, name, texts, offset });
      }
    }
  }
}

/** Each instance once (the repository keeps older copies of a record), by kind and name. */
export function distinctSubscriptions(all: WmiSubscriptions): WmiSubscriptions {
  const once = <T>(items: T[], key: (t: T) => string): T[] => {
    const kept = new Map<string, T>();
    for (const t of items) if (!kept.has(key(t))) kept.set(key(t), t);
    return [...kept.values()];
  };
  const bound = new Set(all.bindings.map((b) => b.consumerName));
  const consumers = all.consumers.map((c) => (c.kind === 'CommandLineEventConsumer' ? { ...c, name: c.texts.find((t) => bound.has(t)) ?? c.name } : c));
  return {
    consumers: once(consumers, (c) => `${c.kind}\0${c.name}`),
    filters: once(all.filters, (f) => f.name),
    bindings: once(all.bindings, (b) => `${b.consumer}\0${b.filterName}`),
  };
}
