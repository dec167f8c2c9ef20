/**
 * The places the cron, services and shell-startup checks read whole, each file with
 * the context of its place (run-parts' period, an init script's runlevels, whose login
 * a start-up file runs at). They are data the checks declare, and the started-scripts
 * check leaves a started file in one of them to the check that owns it, so nothing is
 * reported twice and no check has to ask another what it reads.
 */

// cron and anacron: crontab(5), anacrontab(5), run-parts(8).
export const SYSTEM_CRONTABS = ['/etc/crontab', '/etc/cron.d/*'];
export const ANACRONTAB = '/etc/anacrontab';
export const SPOOL_CRONTABS = ['/var/spool/cron/*', '/var/spool/cron/crontabs/*', '/var/spool/cron/tabs/*'];
export const CRON_SCRIPT_DIRS = ['/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly'];
export const CRON_GLOBS = [...SYSTEM_CRONTABS, ANACRONTAB, ...SPOOL_CRONTABS, ...CRON_SCRIPT_DIRS.map((d) => `${d}/*`)];

// systemd units and SysV init.
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];
export const UNIT_GLOBS = UNIT_DIRS.flatMap((d) => [`${d}/*`, `${d}/*/*`]);
export const INIT_GLOBS = ['/etc/rc.local', '/etc/inittab', '/etc/init.d/*', '/etc/rc.d/*', '/etc/rc.d/*/*', '/etc/rc[0-6S].d/*'];
export const SERVICE_PATHS = [...UNIT_GLOBS, ...INIT_GLOBS];

// Shell start-up files, system-wide and per account, and PAM's environment files.
export const SHELL_SYSTEM_FILES = [
  '/etc/profile',
  '/etc/bash.bashrc',
  '/etc/bashrc',
  '/etc/bash.bash_logout',
  '/etc/zshenv',
  '/etc/zprofile',
  '/etc/zshrc',
  '/etc/zlogin',
  '/etc/zlogout',
];
export const SHELL_SYSTEM_DIRS = ['/etc/profile.d', '/etc/zsh'];
export const PAM_ENV_FILES = ['/etc/environment', '/etc/security/pam_env.conf'];
export const SHELL_HOME_FILES = ['.bashrc', '.profile', '.bash_profile', '.bash_login', '.bash_logout', '.bash_aliases', '.zshrc', '.zprofile', '.zshenv', '.zlogin', '.zlogout'];
export const SKEL = '/etc/skel';
export const SHELL_STARTUP_PATHS = [
  '/etc/passwd',
  ...SHELL_SYSTEM_FILES,
  ...PAM_ENV_FILES,
  ...SHELL_SYSTEM_DIRS.map((d) => `${d}/*`),
  ...SHELL_HOME_FILES.flatMap((f) => [`${SKEL}/${f}`, `/root/${f}`, `/**/${f}`]),
];

/** Every file the three checks read whole. */
export const WHOLE_FILE_PLACES = [...CRON_GLOBS, ...SERVICE_PATHS, ...SHELL_STARTUP_PATHS];
