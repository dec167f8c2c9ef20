/**
 * A small shell lexer for the command lines persistence points run: words with their
 * quotes and escapes removed, operators, `$(...)`, backticks and `<(...)` bodies kept
 * apart as commands of their own, redirections dropped with their targets (also when
 * glued to a word, as in `upd>/dev/null` or `2>&1`), and here-document delimiters
 * noted so callers can skip the bodies. It follows the token rules of POSIX "Shell
 * Command Language" (2.3 Token Recognition, 2.7 Redirection) closely enough for that
 * purpose; it does not expand anything. systemd's Exec*= word splitting
 * (systemd.service(5), "Command lines") is here too: it has no operators at all.
 */

/** A lexer budget: lines longer than this are read up to here only. */
const MAX_LEX_CHARS = 256 * 1024;
/** Marks an expansion the offline scan cannot evaluate (`$(...)`, backticks). */
export const OPAQUE = '\u0000';

export interface Word {
  kind: 'word';
  text: string;
  /** Some of it was quoted or escaped: not a keyword, not a descriptor number. */
  quoted: boolean;
}
export type Token = Word | { kind: 'op'; text: string };

export interface Lexed {
  tokens: Token[];
  /** Bodies of `$(...)`, backticks and `<(...)`: commands in their own right. */
  substitutions: string[];
  /** Delimiters of here-documents started on this line (`<<EOF`). */
  heredocs: string[];
}

/** Delimiters of the here-documents a shell line opens (`cat <<EOF >x`), so callers can skip their bodies. */
export function heredocDelimiters(line: string): string[] {
  return lexShell(line).heredocs;
}

/** Index where an unquoted shell comment starts, or -1. */
export function shellCommentStart(line: string): number {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '#' && (i === 0 || /[\s;&|()]/.test(line[i - 1]!))) return i;
  }
  return -1;
}

/** The line without its trailing shell comment (a `#` starting a word, outside quotes). */
export function stripShellComment(line: string): string {
  const at = shellCommentStart(line);
  return at < 0 ? line : line.slice(0, at).trimEnd();
}

/** Tokens of one shell line (or several, newline-separated), with its substitution bodies and here-document delimiters. */
export function lexShell(input: string): Lexed {
  const src = input.length > MAX_LEX_CHARS ? input.slice(0, MAX_LEX_CHARS) : input;
  const tokens: Token[] = [];
  const substitutions: string[] = [];
  const heredocs: string[] = [];
  let word: string | undefined;
  let quoted = false;
  /** The next word is a redirection target (dropped), or a here-document delimiter. */
  let redirect: 'file' | 'heredoc' | undefined;

  const endWord = () => {
    if (word === undefined) return;
    if (redirect === 'heredoc') heredocs.push(word.replace(OPAQUE, ''));
    else if (!redirect) tokens.push({ kind: 'word', text: word, quoted });
    redirect = undefined;
    word = undefined;
    quoted = false;
  };
  const op = (text: string) => {
    endWord();
    redirect = undefined;
    tokens.push({ kind: 'op', text });
  };
  const append = (s: string) => {
    word = (word ?? '') + s;
  };

  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === ' ' || c === '\t' || c === '\r') {
      endWord();
      i++;
    } else if (c === '\n') {
      op(';');
      i++;
    } else if (c === '#' && word === undefined) {
      // A comment runs to the end of the line.
      const nl = src.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '\\') {
      if (next === '\n') i += 2;
      else {
        if (next !== undefined) append(next);
        quoted = true;
        i += 2;
      }
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1);
      append(src.slice(i + 1, end < 0 ? src.length : end));
      quoted = true;
      i = end < 0 ? src.length : end + 1;
    } else if (c === '"') {
      quoted = true;
      append('');
      i++;
      while (i < src.length && src[i] !== '"') {
        const d = src[i]!;
        if (d === '\\' && i + 1 < src.length) {
          const e = src[i + 1]!;
          append('$`"\\\n'.includes(e) ? e : d + e);
          i += 2;
        } else if (d === '$' && src[i + 1] === '(') {
          i = readSubstitution(src, i + 1, substitutions);
          append(OPAQUE);
        } else if (d === '`') {
          i = readBackticks(src, i, substitutions);
          append(OPAQUE);
        } else {
          append(d);
          i++;
        }
      }
      i++;
    } else if (c === '$' && next === '(') {
      i = readSubstitution(src, i + 1, substitutions);
      append(OPAQUE);
    } else if (c === '`') {
      i = readBackticks(src, i, substitutions);
      append(OPAQUE);
    } else if ((c === '<' || c === '>') && next === '(') {
      // Process substitution: its body runs; the word itself is a /dev/fd path.
      i = readSubstitution(src, i + 1, substitutions);
      append(OPAQUE);
    } else if (c === '<' || c === '>' || (c === '&' && next === '>')) {
      // "2>&1", "upd>/dev/null": digits right before the operator name a descriptor.
      if (word !== undefined && !quoted && /^\d+$/.test(word)) word = undefined;
      endWord();
      const m = /^(?:&>>|&>|<<<|<<-|<<|<>|<&|>>|>&|>\||<|>)/.exec(src.slice(i, i + 3))!;
      i += m[0].length;
      if (m[0] === '<<' || m[0] === '<<-') redirect = 'heredoc';
      else if (m[0].endsWith('&')) {
        // ">&2", "<&-": the target is a descriptor, not a word.
        const fd = /^\s*(\d+-?|-)/.exec(src.slice(i, i + 24));
        if (fd) i += fd[0].length;
        else redirect = 'file';
      } else redirect = 'file';
    } else if (c === '&' || c === '|' || c === ';') {
      const two = src.slice(i, i + 2);
      const text = ['&&', '||', '|&', ';;', ';&'].includes(two) ? two : c;
      op(text);
      i += text.length;
    } else if (c === '(' || c === ')') {
      op(c);
      i++;
    } else {
      append(c);
      i++;
    }
  }
  endWord();
  return { tokens, substitutions, heredocs };
}

/** Reads "(...)" starting at the "(" and returns the index after the matching ")". */
function readSubstitution(src: string, open: number, out: string[]): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '\\') i++;
    else if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) {
      const body = src.slice(open + 1, i);
      // $((arithmetic)) runs nothing.
      if (!(body.startsWith('(') && body.endsWith(')'))) out.push(body);
      return i + 1;
    }
  }
  out.push(src.slice(open + 1));
  return src.length;
}

function readBackticks(src: string, open: number, out: string[]): number {
  let i = open + 1;
  let body = '';
  while (i < src.length && src[i] !== '`') {
    if (src[i] === '\\' && i + 1 < src.length) {
      body += src[i + 1];
      i += 2;
    } else body += src[i++];
  }
  out.push(body);
  return i + 1;
}

/** systemd's word splitting: whitespace, '...' and "..." quotes, backslash escapes. */
export function splitExecWords(src: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < src.length) {
    while (i < src.length && /\s/.test(src[i]!)) i++;
    if (i >= src.length) break;
    let text = '';
    let quoted = false;
    while (i < src.length && !/\s/.test(src[i]!)) {
      const c = src[i]!;
      if (c === '"' || c === "'") {
        const end = src.indexOf(c, i + 1);
        text += src.slice(i + 1, end < 0 ? src.length : end);
        quoted = true;
        i = end < 0 ? src.length : end + 1;
      } else if (c === '\\' && i + 1 < src.length) {
        text += src[i + 1];
        i += 2;
      } else {
        text += c;
        i++;
      }
    }
    words.push({ kind: 'word', text, quoted });
  }
  return words;
}

