/**
 * WMI event subscriptions: consumers that run a script (ActiveScriptEventConsumer) or a
 * command line (CommandLineEventConsumer) when the event filter bound to them fires, a
 * favourite persistence of Windows miners (a timer that restarts the miner, a process
 * start that kills the analyst's tools). Read from the CIM repository's OBJECTS.DATA by a
 * bounded scan (src/checks/parsers/wmi-objects.ts says what that can and cannot see),
 * read in chunks so memory stays bounded whatever the repository's size. Each consumer
 * is reported with the filters bound to it (windows-wmi-subscriptions.yaml), and its
 * script lines or command line go through scanCommandLines in the windows-command scope.
 * Windows 7's stock BVTConsumer (cscript KernCap.vbs) is left out.
 */
import type { Check, CheckContext } from '../../model/check.js';
import { COMMAND_SCAN_RULE_IDS, scanCommandLines, type CommandLine } from '../shared/command-scan.js';
import { caselessGlob } from '../../facts/windows/caseless.js';
import { limitExceeded } from '../../../mountfs/errors.js';
import { distinctSubscriptions, RECORD_WINDOW, scanWmiChunk, type WmiConsumer, type WmiSubscriptions } from '../parsers/wmi-objects.js';
import { removeStartedPrograms } from './windows-paths.js';

const REPOSITORY = [caselessGlob('/Windows/System32/wbem/Repository/OBJECTS.DATA'), caselessGlob('/Windows/System32/wbem/Repository/FS/OBJECTS.DATA')];
const CHUNK = 4 << 20;
/** Repositories run to tens of MiB; past this the rest is reported as not read. */
const MAX_REPOSITORY_BYTES = 2 ** 31;
/** Lines of one script judged; a script is a few hundred at most. */
const MAX_SCRIPT_LINES = 2000;
const CATEGORY = 'persistence/wmi';
const SCRIPT_CONSUMER = 'windows-wmi.script-consumer';
const COMMAND_CONSUMER = 'windows-wmi.command-consumer';

export const windowsWmiSubscriptionsCheck: Check = {
  id: 'windows-wmi-subscriptions',
  description: 'WMI event subscriptions in the CIM repository: script and command-line consumers and the filters bound to them',
  persistence: true,
  platforms: ['windows'],
  paths: REPOSITORY,
  ruleIds: [...COMMAND_SCAN_RULE_IDS, SCRIPT_CONSUMER, COMMAND_CONSUMER],
  async run(ctx) {
    for await (const entry of ctx.vfs.walk(REPOSITORY, { onError: (p, err) => ctx.error(p, err) })) {
      if (entry.stat.type !== 'file') continue;
      try {
        const found = await scanRepository(ctx, entry.path, entry.stat.size);
        await judge(ctx, entry.path, found);
      } catch (err) {
        ctx.error(entry.path, err);
      }
    }
  },
};

async function scanRepository(ctx: CheckContext, path: string, size: number): Promise<WmiSubscriptions> {
  const found: WmiSubscriptions = { consumers: [], filters: [], bindings: [] };
  const end = Math.min(size, MAX_REPOSITORY_BYTES);
  if (size > end) ctx.error(path, limitExceeded('WMI repository', `${size} bytes; only the first ${end} were read`));
  for (let offset = 0; offset < end; offset += CHUNK) {
    const buf = await ctx.vfs.readFile(path, { offset, maxBytes: CHUNK + RECORD_WINDOW });
    scanWmiChunk(buf, offset, CHUNK, found);
  }
  ctx.examined(path);
  return distinctSubscriptions(found);
}

async function judge(ctx: CheckContext, path: string, found: WmiSubscriptions): Promise<void> {
  for (const consumer of found.consumers) {
    if (consumer.kind === 'CommandLineEventConsumer' && consumer.name === 'BVTConsumer' && consumer.texts.some((t) => /\bKernCap\.vbs\b/i.test(t))) continue;
    const filters = found.bindings
      .filter((b) => b.consumerName === consumer.name && b.consumer.startsWith(`${consumer.kind}.`))
      .map((b) => found.filters.find((f) => f.name === b.filterName) ?? { name: b.filterName, query: 'its query was not found' });
    const trigger = filters.length ? filters.map((f) => `filter "${f.name}" (${f.query})`).join(', ') : 'no filter found bound to it';
    const context = ` (WMI ${consumer.kind} "${consumer.name}", run by ${trigger})`;
    const fix = removal(consumer, filters.map((f) => f.name));
    const lines: CommandLine[] =
      consumer.kind === 'ActiveScriptEventConsumer'
        ? (consumer.texts[0] ?? '')
            .split(/\r?\n/)
            .slice(0, MAX_SCRIPT_LINES)
            .map((t, i) => ({ line: i + 1, text: t.trim(), evidence: t.trim() }))
            .filter((l) => l.text !== '' && !/^(?:'|rem\s|\/\/)/i.test(l.text))
        : consumer.texts.map((t, i) => ({ line: i + 1, text: t, evidence: t, run: { syntax: 'windows' as const, command: t } }));
    const started = await scanCommandLines(ctx, { scope: 'windows-command', path, category: CATEGORY, vars: { context }, fix: async (_l, programs) => [fix, ...removeStartedPrograms(programs)].join('\n') }, lines);
    const evidence = `${consumer.kind}.Name="${consumer.name}"${consumer.engine ? ` (${consumer.engine})` : ''}: ${summary(consumer)}`;
    ctx.report(
      ctx.rules.finding(consumer.kind === 'ActiveScriptEventConsumer' ? SCRIPT_CONSUMER : COMMAND_CONSUMER, {
        path,
        evidence,
        category: CATEGORY,
        vars: { name: consumer.name, trigger, context, fix: [fix, ...removeStartedPrograms([...started.values()].flat())].join('\n') },
      }),
    );
  }
}

function summary(consumer: WmiConsumer): string {
  const text = consumer.texts.join(' | ').replace(/\s+/g, ' ').trim();
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

/** PowerShell that removes the binding, the consumer and its filters, in either namespace subscriptions live in. */
function removal(consumer: WmiConsumer, filters: string[]): string {
  const q = (s: string) => s.replace(/'/g, "''");
  return ['root/subscription', 'root/default']
    .flatMap((ns) => [
      `Get-CimInstance -Namespace ${ns} -ClassName __FilterToConsumerBinding | Where-Object { $_.Consumer.Name -eq '${q(consumer.name)}' } | Remove-CimInstance`,
      `Get-CimInstance -Namespace ${ns} -ClassName ${consumer.kind} -Filter "Name='${q(consumer.name)}'" | Remove-CimInstance`,
      ...filters.map((f) => `Get-CimInstance -Namespace ${ns} -ClassName __EventFilter -Filter "Name='${q(f)}'" | Remove-CimInstance`),
    ])
    .join('\n');
}
