/**
 * Where a host serves files from: the usual web roots of Debian, RHEL and the Tomcat,
 * Jetty and nginx packages, plus the `root`/`alias` (nginx) and `DocumentRoot`/`Alias`
 * (Apache httpd) directories the enabled site configurations name. Following the
 * configurations is worth its small cost: sites that matter often live in
 * /srv/app/public, /data/www or /opt/shop, which no fixed list guesses. It is bounded:
 * only the site directories are read (no Include chasing), each file to 256 KiB, at
 * most 64 files and 32 roots, and a root that would mean walking a system tree ("/",
 * "/usr", "/var") is left out. Directive syntax: nginx's ngx_http_core_module (root,
 * alias) and Apache's core/mod_alias (DocumentRoot, Alias, AliasMatch is skipped).
 */
import type { CheckContext } from '../../model/check.js';
import { textLines } from '../../facts/vfs-lines.js';
import { isNotFound } from '../../../mountfs/errors.js';
import { normalizePath } from '../../../mountfs/path.js';
import { realPathOf } from './real-path.js';

/** Fixed web roots, walked recursively. */
export const WEB_ROOT_GLOBS = [
  '/var/www/**',
  '/srv/www/**',
  '/srv/http/**',
  '/usr/share/nginx/html/**',
  '/var/lib/tomcat*/webapps/**',
  '/opt/tomcat*/webapps/**',
  '/usr/local/tomcat/webapps/**',
  '/home/*/public_html/**',
  '/var/lib/jetty*/webapps/**',
  '/opt/*/webapps/**',
];

/**
 * What the webshell check reads under the fixed roots, for sources that keep only
 * declared files: scripts and directive files. Images are left out (keeping every
 * photo of a gallery would exhaust the retention budget); such sources keep the first
 * bytes of every file, which is what the PHP-in-image test reads.
 */
export const WEB_FILE_GLOBS = WEB_ROOT_GLOBS.flatMap((root) => [
  root.replace(/\*\*$/, '**/*.{php,php3,php4,php5,php6,php7,php8,phtml,phar,inc,jsp,jspx,asp,aspx,ashx,asmx,cgi,pl}'),
  root.replace(/\*\*$/, '**/{.htaccess,.user.ini}'),
]);

/** The site configurations whose roots are followed. */
export const SERVER_CONFIG_GLOBS = [
  '/etc/nginx/sites-enabled/*',
  '/etc/nginx/conf.d/*.conf',
  '/etc/apache2/sites-enabled/*',
  '/etc/httpd/conf.d/*.conf',
];

const MAX_CONFIG_BYTES = 256 * 1024;
const MAX_CONFIG_FILES = 64;
const MAX_CONFIG_ROOTS = 32;
/** Too broad to walk as a web root: a configuration naming one is mistaken or hostile. */
const SYSTEM_TREES = new Set(['/', '/usr', '/etc', '/var', '/home', '/opt', '/srv', '/bin', '/sbin', '/lib', '/lib64', '/boot', '/dev', '/proc', '/sys', '/run', '/root', '/tmp']);

/** Also inside a block opened on the same line: `location /x/ { alias /srv/x/; }`. */
const NGINX_ROOT = /(?:^|[{;])\s*(?:root|alias)\s+(["']?)([^;"'\s{}]+)\1\s*;/g;
const APACHE_ROOT = /^\s*(?:DocumentRoot\s+|Alias\s+\S+\s+)(["']?)([^"'\s]+)\1\s*$/i;

/**
 * The directories the enabled site configurations serve, symlinks resolved inside the
 * scanned root. Unreadable configurations are reported and skipped.
 */
export async function configuredWebRoots(ctx: CheckContext): Promise<string[]> {
  const roots = new Set<string>();
  let files = 0;
  const walk = ctx.vfs.walk(SERVER_CONFIG_GLOBS, { maxEntries: 10_000, onError: (p, e) => ctx.error(p, e) });
  for await (const entry of walk) {
    if (files >= MAX_CONFIG_FILES || roots.size >= MAX_CONFIG_ROOTS) break;
    // sites-enabled holds symlinks to sites-available: follow them (inside the root).
    if (entry.stat.type !== 'file' && entry.stat.type !== 'symlink') continue;
    files++;
    let text: string;
    try {
      text = (await ctx.vfs.readFile(entry.path, { maxBytes: MAX_CONFIG_BYTES })).toString('latin1');
    } catch (err) {
      if (!isNotFound(err)) ctx.error(entry.path, err);
      continue;
    }
    ctx.examined(entry.path);
    for (const dir of directiveRoots(text)) {
      if (roots.size >= MAX_CONFIG_ROOTS) break;
      roots.add(dir);
    }
  }
  const resolved = new Set<string>();
  for (const dir of roots) {
    // A site whose root is gone (an old vhost) is ordinary.
    const real = await realPathOf(ctx, dir, 'directory');
    if (real !== undefined && !SYSTEM_TREES.has(real)) resolved.add(real);
  }
  return [...resolved];
}

/** Absolute directories named by root/alias/DocumentRoot/Alias lines; variables ($document_root, ${APACHE_ROOT}) are skipped. */
export function directiveRoots(text: string): string[] {
  const found: string[] = [];
  for (const { text: raw } of textLines(text)) {
    const line = raw.replace(/(^|\s)#.*$/, '');
    const named = [...line.matchAll(NGINX_ROOT)].map((m) => m[2]!);
    const apache = APACHE_ROOT.exec(line)?.[2];
    if (apache) named.push(apache);
    for (const dir of named) {
      if (!dir.startsWith('/') || dir.includes('$')) continue;
      const normal = normalizePath(dir);
      if (!SYSTEM_TREES.has(normal)) found.push(normal);
    }
  }
  return found;
}
