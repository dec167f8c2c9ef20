/**
 * Fleet progress for a person: a bar redrawn in place on a terminal, one plain line
 * per instance otherwise (CI logs, Kubernetes logs).
 */
export interface ProgressState {
  total: number;
  done: number;
  failed: number;
  bytesRead: number;
}

export class Progress {
  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
    private readonly state: ProgressState,
  ) {}

  instanceDone(id: string, outcome: string): void {
    if (this.tty) this.write(`\r${this.bar()}`);
    else this.write(`minescan: ${id}: ${outcome} (${this.state.done + this.state.failed}/${this.state.total})\n`);
  }

  finish(): void {
    if (this.tty) this.write(`\r${this.bar()}\n`);
  }

  private bar(): string {
    const { total, done, failed, bytesRead } = this.state;
    const width = 30;
    const filled = total ? Math.round(((done + failed) / total) * width) : width;
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done + failed}/${total} instances, ${failed} failed, ${formatBytes(bytesRead)} read`;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
