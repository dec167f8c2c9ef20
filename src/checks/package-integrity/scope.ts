/**
 * Where the package integrity check hashes files, and what each place is. Bounded to
 * what rootkits and miner kits replace and what long-running root processes load:
 *
 * - the command directories, where ps, top, netstat, ss and sshd live;
 * - shared objects directly in the library directories (lib, lib32, lib64, libx32 under
 *   / and /usr, and the multiarch directories such as /usr/lib/x86_64-linux-gnu):
 *   libc, libpam, libprocps, libkeyutils (Ebury's target);
 * - one and two directories below the multiarch and lib64 directories: the plugins
 *   daemons load (PAM modules, which see every password; rsyslog, SASL, Kerberos and
 *   OpenSSL modules; libsystemd-shared), not whole language trees;
 * - the programs services run from outside the command directories: /usr/libexec
 *   (sudo's policy plugin, RHEL's sshd-session and sftp-server), /usr/lib/openssh,
 *   and systemd's own daemons (/usr/lib/systemd/systemd*, PID 1 among them).
 *
 * On merged-/usr systems /bin, /lib... are symlinks: the walk does not follow them,
 * so every file is seen once, under /usr.
 */
import { compileGlob } from '../../../mountfs/glob.js';

export const COMMAND_DIRS = ['/bin', '/sbin', '/usr/bin', '/usr/sbin'];
export const LOCAL_COMMAND_DIRS = ['/usr/local/bin', '/usr/local/sbin'];
const LIB_DIRS = ['lib', 'lib32', 'lib64', 'libx32'].flatMap((l) => [`/${l}`, `/usr/${l}`]);
/** Debian multiarch triplets all end in -linux-gnu or -linux-gnu<abi> (arm-linux-gnueabihf). */
const PLUGIN_PARENTS = ['/lib/*-linux-gnu*', '/usr/lib/*-linux-gnu*', '/lib64', '/usr/lib64'];

export const COMMAND_GLOBS = [...COMMAND_DIRS, ...LOCAL_COMMAND_DIRS].map((d) => `${d}/*`);
export const PAM_GLOBS = [...LIB_DIRS, ...PLUGIN_PARENTS].map((d) => `${d}/security/*.so`);
export const LIBRARY_GLOBS = [
  ...[...LIB_DIRS, ...PLUGIN_PARENTS].map((d) => `${d}/*.so*`),
  ...PLUGIN_PARENTS.flatMap((d) => [`${d}/*/*.so*`, `${d}/*/*/*.so*`]),
];
export const PROGRAM_GLOBS = [
  '/usr/libexec/*',
  '/usr/libexec/*/*',
  '/usr/libexec/*/*/*',
  '/usr/lib/openssh/*',
  '/lib/systemd/systemd*',
  '/usr/lib/systemd/systemd*',
];
export const SCOPE_GLOBS = [...COMMAND_GLOBS, ...PAM_GLOBS, ...LIBRARY_GLOBS, ...PROGRAM_GLOBS];

export type Place = 'command' | 'local-command' | 'pam' | 'library' | 'program';

const matcher = (globs: string[]) => {
  const compiled = globs.map(compileGlob);
  return (path: string) => compiled.some((g) => g.matches(path));
};
const isPam = matcher(PAM_GLOBS);
const isLibrary = matcher(LIBRARY_GLOBS);
const isCommand = matcher(COMMAND_DIRS.map((d) => `${d}/*`));
const isLocalCommand = matcher(LOCAL_COMMAND_DIRS.map((d) => `${d}/*`));
const isProgram = matcher(PROGRAM_GLOBS);

/** Every place is below one of these: most paths a package database records are rejected here, cheaply. */
const ROOTS = ['/bin/', '/sbin/', '/lib', '/usr/bin/', '/usr/sbin/', '/usr/lib', '/usr/local/bin/', '/usr/local/sbin/'];

/** What kind of place the path is in, undefined when the check does not look there. */
export function placeOf(path: string): Place | undefined {
  if (!ROOTS.some((r) => path.startsWith(r))) return undefined;
  if (isPam(path)) return 'pam';
  if (isCommand(path)) return 'command';
  if (isLocalCommand(path)) return 'local-command';
  if (isLibrary(path)) return 'library';
  if (isProgram(path)) return 'program';
  return undefined;
}
