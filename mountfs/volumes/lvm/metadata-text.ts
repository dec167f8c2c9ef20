/**
 * A parser for LVM2's text metadata (the libdm config format): `name { ... }` sections,
 * `key = value` assignments, values that are integers, floats, "escaped" or 'plain'
 * strings, bare words, or [lists] of those; `#` comments; a NUL ends the text. Token
 * rules follow libdm/libdm-config.c (a word runs to whitespace, '#', '=', '{' or '}';
 * a sign or digit after '=', '[' or ',' starts a number). The text is attacker-
 * controlled, so nesting depth and size are capped, every error is a typed
 * MountfsError naming the byte and line, and duplicate keys are refused rather than
 * silently merged.
 */
import { corrupt, limitExceeded } from '../../errors.js';

const STRUCTURE = 'LVM metadata text';
/** VG metadata nests five deep (vg, logical_volumes, lv, segment); lvm.conf a little more. */
export const MAX_NESTING = 32;
export const MAX_TEXT_BYTES = 16 << 20;

export type ConfigScalar = { kind: 'int'; value: bigint } | { kind: 'float'; value: number } | { kind: 'string'; value: string };
export type ConfigValue = ConfigScalar | { kind: 'list'; items: ConfigScalar[] };

export interface ConfigSection {
  kind: 'section';
  /** Keys in file order, each a section or a value. */
  entries: Map<string, ConfigSection | ConfigValue>;
  /** Byte position of the section's name, for messages. */
  at: number;
}

type TokenType = '{' | '}' | '[' | ']' | ',' | '=' | 'int' | 'float' | 'string' | 'word' | 'eof';

interface Token {
  type: TokenType;
  start: number;
  end: number;
  line: number;
}

const SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

class Lexer {
  private pos = 0;
  private line = 1;
  constructor(private readonly buf: Buffer) {}

  fail(message: string, at: number, line: number): never {
    throw corrupt(STRUCTURE, `${message} at byte ${at} (line ${line})`);
  }

  text(t: Token): string {
    return this.buf.toString('utf8', t.start, t.end);
  }

  /** The next token; `valuesAllowed` after '=', '[' and ',' where numbers and bare strings are values. */
  next(valuesAllowed: boolean): Token {
    const b = this.buf;
    for (;;) {
      while (this.pos < b.length && SPACE.has(b[this.pos]!)) {
        if (b[this.pos] === 0x0a) this.line++;
        this.pos++;
      }
      if (this.pos < b.length && b[this.pos] === 0x23) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0) this.pos++;
        continue;
      }
      break;
    }
    const start = this.pos;
    const line = this.line;
    const tok = (type: TokenType, end: number): Token => {
      this.pos = end;
      return { type, start, end, line };
    };
    if (start >= b.length || b[start] === 0) return tok('eof', start);
    const c = b[start]!;
    switch (c) {
      case 0x7b: return tok('{', start + 1);
      case 0x7d: return tok('}', start + 1);
      case 0x5b: return tok('[', start + 1);
      case 0x5d: return tok(']', start + 1);
      case 0x2c: return tok(',', start + 1);
      case 0x3d: return tok('=', start + 1);
      case 0x22: { // "escaped string": a backslash keeps the next byte
        let e = start + 1;
        while (e < b.length && b[e] !== 0 && b[e] !== 0x22) {
          if (b[e] === 0x5c && e + 1 < b.length && b[e + 1] !== 0) e++;
          if (b[e] === 0x0a) this.line++;
          e++;
        }
        if (e >= b.length || b[e] !== 0x22) this.fail('unterminated string', start, line);
        return tok('string', e + 1);
      }
      case 0x27: { // 'plain string'
        let e = start + 1;
        while (e < b.length && b[e] !== 0 && b[e] !== 0x27) {
          if (b[e] === 0x0a) this.line++;
          e++;
        }
        if (e >= b.length || b[e] !== 0x27) this.fail('unterminated string', start, line);
        return tok('string', e + 1);
      }
    }
    if (valuesAllowed && (isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e)) {
      let e = start + 1;
      let type: TokenType = c === 0x2e ? 'float' : 'int';
      while (e < b.length) {
        if (isDigit(b[e]!)) e++;
        else if (b[e] === 0x2e && type === 'int') {
          type = 'float';
          e++;
        } else break;
      }
      return tok(type, e);
    }
    let e = start;
    while (e < b.length && b[e] !== 0 && !SPACE.has(b[e]!) && b[e] !== 0x23 && b[e] !== 0x3d && b[e] !== 0x7b && b[e] !== 0x7d) e++;
    return tok('word', e);
  }
}

class Parser {
  private tok: Token;
  constructor(private readonly lex: Lexer) {
    this.tok = lex.next(false);
  }

  /** The current token's type (a method, so that TypeScript does not narrow it across advance()). */
  private type(): TokenType {
    return this.tok.type;
  }

  private advance(): void {
    const t = this.tok.type;
    this.tok = this.lex.next(t === '=' || t === '[' || t === ',');
  }

  private fail(message: string): never {
    return this.lex.fail(message, this.tok.start, this.tok.line);
  }

  parseRoot(): ConfigSection {
    const root: ConfigSection = { kind: 'section', entries: new Map(), at: 0 };
    while (this.type() !== 'eof') this.parseEntry(root, 1);
    return root;
  }

  private parseEntry(parent: ConfigSection, depth: number): void {
    const keyTok = this.tok;
    let key: string;
    if (keyTok.type === 'word') key = this.lex.text(keyTok);
    else if (keyTok.type === 'string') key = this.stringValue(keyTok);
    else this.fail(keyTok.type === 'eof' ? 'unexpected end of text' : `expected a name, found ${JSON.stringify(this.lex.text(keyTok))}`);
    if (key === '') this.fail('empty name');
    if (parent.entries.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
    this.advance();
    if (this.tok.type === '{') {
      if (depth > MAX_NESTING) throw limitExceeded(STRUCTURE, `sections nested more than ${MAX_NESTING} deep at byte ${keyTok.start} (line ${keyTok.line})`);
      const section: ConfigSection = { kind: 'section', entries: new Map(), at: keyTok.start };
      parent.entries.set(key, section);
      this.advance();
      while (this.type() !== '}') {
        if (this.type() === 'eof') this.fail(`section ${JSON.stringify(key)} is not closed`);
        this.parseEntry(section, depth + 1);
      }
      this.advance();
    } else if (this.tok.type === '=') {
      this.advance();
      parent.entries.set(key, this.parseValue());
    } else {
      this.fail(`expected "{" or "=" after ${JSON.stringify(key)}`);
    }
  }

  private parseValue(): ConfigValue {
    if (this.tok.type !== '[') return this.parseScalar();
    this.advance();
    const items: ConfigScalar[] = [];
    while (this.type() !== ']') {
      if (this.type() === 'eof') this.fail('list is not closed');
      items.push(this.parseScalar());
      if (this.type() === ',') this.advance();
    }
    this.advance();
    return { kind: 'list', items };
  }

  private parseScalar(): ConfigScalar {
    const t = this.tok;
    let v: ConfigScalar;
    if (t.type === 'int') v = { kind: 'int', value: parseInteger(this.lex.text(t), () => this.fail('malformed integer')) };
    else if (t.type === 'float') {
      const n = Number(this.lex.text(t));
      if (!Number.isFinite(n)) this.fail('malformed number');
      v = { kind: 'float', value: n };
    } else if (t.type === 'string') v = { kind: 'string', value: this.stringValue(t) };
    else if (t.type === 'word') v = { kind: 'string', value: this.lex.text(t) };
    else this.fail(t.type === 'eof' ? 'unexpected end of text, expected a value' : 'expected a value');
    this.advance();
    return v;
  }

  private stringValue(t: Token): string {
    const raw = this.lex.text({ ...t, start: t.start + 1, end: t.end - 1 });
    // Only double-quoted strings are escaped: \" and \\ stand for " and \.
    return this.lex.text(t).startsWith('"') ? raw.replace(/\\(["\\])/g, '$1') : raw;
  }
}

/** strtoll(s, 0) as libdm reads it: a leading 0 means octal. */
function parseInteger(s: string, fail: () => never): bigint {
  const m = /^([+-]?)(\d+)$/.exec(s);
  if (!m) fail();
  const digits = m[2]!;
  if (digits.length > 1 && digits.startsWith('0')) {
    if (!/^[0-7]+$/.test(digits)) fail();
    const v = BigInt('0o' + digits);
    return m[1] === '-' ? -v : v;
  }
  const v = BigInt(digits);
  return m[1] === '-' ? -v : v;
}

export function parseMetadataText(text: Buffer): ConfigSection {
  if (text.length > MAX_TEXT_BYTES) throw limitExceeded(STRUCTURE, `${text.length} bytes of metadata text (at most ${MAX_TEXT_BYTES} are parsed)`);
  return new Parser(new Lexer(text)).parseRoot();
}

/** Typed accessors that name what is missing or of the wrong kind. */
export function getSection(s: ConfigSection, key: string, where: string): ConfigSection {
  const v = s.entries.get(key);
  if (!v || v.kind !== 'section') throw corrupt(STRUCTURE, `${where}: no section ${JSON.stringify(key)}`);
  return v;
}

export function optSection(s: ConfigSection, key: string, where: string): ConfigSection | undefined {
  const v = s.entries.get(key);
  if (v === undefined) return undefined;
  if (v.kind !== 'section') throw corrupt(STRUCTURE, `${where}: ${JSON.stringify(key)} is not a section`);
  return v;
}

export function getInt(s: ConfigSection, key: string, where: string, min = 0): number {
  const v = optInt(s, key, where, min);
  if (v === undefined) throw corrupt(STRUCTURE, `${where}: no ${key}`);
  return v;
}

export function optInt(s: ConfigSection, key: string, where: string, min = 0): number | undefined {
  const v = s.entries.get(key);
  if (v === undefined) return undefined;
  if (v.kind !== 'int') throw corrupt(STRUCTURE, `${where}: ${key} is not an integer`);
  if (v.value < BigInt(min) || v.value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(STRUCTURE, `${where}: ${key} = ${v.value} is out of range`);
  return Number(v.value);
}

export function getString(s: ConfigSection, key: string, where: string): string {
  const v = optString(s, key, where);
  if (v === undefined) throw corrupt(STRUCTURE, `${where}: no ${key}`);
  return v;
}

export function optString(s: ConfigSection, key: string, where: string): string | undefined {
  const v = s.entries.get(key);
  if (v === undefined) return undefined;
  if (v.kind !== 'string') throw corrupt(STRUCTURE, `${where}: ${key} is not a string`);
  return v.value;
}

/** A list of strings (status, flags); absent means empty. */
export function stringList(s: ConfigSection, key: string, where: string): string[] {
  const v = s.entries.get(key);
  if (v === undefined) return [];
  if (v.kind !== 'list' || v.items.some((i) => i.kind !== 'string')) throw corrupt(STRUCTURE, `${where}: ${key} is not a list of strings`);
  return v.items.map((i) => (i as { value: string }).value);
}

export function getList(s: ConfigSection, key: string, where: string): ConfigScalar[] {
  const v = s.entries.get(key);
  if (!v || v.kind !== 'list') throw corrupt(STRUCTURE, `${where}: no list ${key}`);
  return v.items;
}
