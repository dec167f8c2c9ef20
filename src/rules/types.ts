/**
 * The rule data model. Rules live in YAML files (src/rules/builtin/*.yaml for the
 * generic ones, src/rules/families/*.yaml one per malware family, and any --rules DIR);
 * the engine only interprets them. A rule without a matcher is fired by a check's own
 * logic (e.g. "a second uid-0 account"); its severity, message and remediation still
 * come from the data.
 */
import type { Severity } from '../model/finding.js';

/** Streams of text a content rule reads; each check feeds the scopes it owns. */
export const CONTENT_SCOPES = [
  'cron', // crontab lines of every kind
  'systemd-unit', // unit files and drop-ins
  'init-script', // rc.local, init.d, rc.d, inittab
  'preload', // /etc/ld.so.preload entries
  'ssh-key', // authorized_keys lines
  'auth-log', // /var/log/secure, auth.log, audit.log
  'script', // a script a persistence point starts
  'shell-startup', // /etc/profile, profile.d, bash.bashrc, users' .bashrc/.profile/.bash_profile
  'at-job', // at(1) spool files
  'cloud-init', // scripts cloud-init runs (per-boot, per-instance, per-once, user data) and runcmd/bootcmd/write_files of /etc/cloud
  'udev-rule', // udev rules (RUN+=, PROGRAM=)
  'ld-so-conf', // /etc/ld.so.conf and ld.so.conf.d entries
  'kernel-modules', // modules-load.d, /etc/modules, modprobe.d
  'sudoers', // /etc/sudoers and sudoers.d
  'sshd-config', // sshd_config and its drop-ins
  'hosts', // /etc/hosts lines
  'web', // files under web roots (webshells)
  'miner-config', // JSON/text configuration files of miners
  'binary-strings', // printable strings read out of an ELF file
  'windows-registry', // command lines a Windows registry value runs (service ImagePath and ServiceDll, Run keys, Winlogon, IFEO debuggers)
  'windows-command', // a command line Windows persistence runs: task actions, WMI consumers, Run keys, services, startup scripts (windows-commands.yaml)
] as const;
export type ContentScope = (typeof CONTENT_SCOPES)[number];

/** Names a name rule compares against. */
export const NAME_SCOPES = [
  'systemd-unit', // unit file names: "sysetmd.service"
  'account', // user names in /etc/passwd
  'ssh-key-comment',
  'ssh-key-fingerprint', // "SHA256:..."
  'preload-library', // basename of a preloaded library
  'command', // basename of a system command (for the hijacked-commands check)
  'started-path', // absolute path of a program a persistence point starts: "/tmp/.x/run"
  'kernel-module', // a module name loaded at boot
  'hosts-domain', // a host name /etc/hosts pins to an address
  'registry-value', // a Windows registry value as "HKLM\SOFTWARE\<key path>\<value name>=<data>" (CurrentControlSet for the current control set, HKCU for a profile's NTUSER.DAT)
  'windows-file', // path of a file in a user-writable Windows folder: "/ProgramData/x/WinRing0x64.sys"
] as const;
export type NameScope = (typeof NAME_SCOPES)[number];

export interface ContentMatcher {
  kind: 'content';
  scopes: ContentScope[];
  regex: RegExp;
  /** Only files whose path matches one of these globs (all files in scope when absent). */
  paths?: string[];
  /** Each must also match somewhere in the same text (file): for rules that need several strings together. */
  all?: RegExp[];
}

export interface PathMatcher {
  kind: 'path';
  /** The rule fires for every existing entry a glob matches... */
  globs: string[];
  /** ...whose content (first MiB) matches this, when given. */
  contains?: RegExp;
  /** Restricts to entries of this type. */
  type?: 'file' | 'directory' | 'any';
}

export interface NameMatcher {
  kind: 'name';
  scope: NameScope;
  values?: string[];
  regex?: RegExp;
}

export interface LogicMatcher {
  kind: 'logic';
}

export type Matcher = ContentMatcher | PathMatcher | NameMatcher | LogicMatcher;

export interface Rule {
  id: string;
  category: string;
  severity: Severity;
  /** Template: {path}, {line}, {name}, {evidence}, {match} and check-specific variables. */
  message: string;
  /** Template of what an operator runs; same variables as message. */
  remediation: string;
  family?: string;
  references: string[];
  match: Matcher;
  /**
   * Findings this rule's finding gives way to on the same path: rule ids, "prefix.*",
   * or "match:path" (any rule that matches by path). The engine drops the finding when
   * one of them is there, whichever check reported it and in whatever order.
   */
  yields?: string[];
  /** "file:line" the rule was loaded from, for error messages and `minescan rules`. */
  origin: string;
}

export interface Family {
  id: string;
  name: string;
  description: string;
  references: string[];
  origin: string;
}

/** A malformed rule file: names the file and, when known, the line. */
export class RuleError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'RuleError';
  }
}

/** Rule fields added after the first shape, merged into it (interfaces merge in one module). */
export interface Rule {
  /**
   * The rule names malware itself (a pool, a wallet, a miner's options, a family's
   * artefact), not a behaviour administrators' files share: it keeps its severity on a
   * package's unchanged file, which caps the others at low (`malware-specific: true`).
   */
  malwareSpecific?: boolean;
}
