/**
 * The router's own small client of the Kubernetes API server: the few calls it makes (read and
 * watch its route table ConfigMap, watch Services, Lease and XTrinode writes for resume) over
 * undici, which the router already uses. `@kubernetes/client-node` costs about 85 MB of memory in
 * every process that loads it (its generated models), which is more than a router worker needs
 * for all of its traffic; the controller keeps using it.
 *
 * Credentials, in this order: `KUBECONFIG` (or `~/.kube/config`) when the file exists, else the
 * Pod's ServiceAccount (`/var/run/secrets/kubernetes.io/serviceaccount`). From a kubeconfig it
 * takes the current context's server, CA and a token, token file or client certificate; exec and
 * auth-provider plugins are not supported (the router runs in the cluster, with its
 * ServiceAccount), and say so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { Agent, request } from 'undici';
import { parse as parseYaml } from 'yaml';

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** An answer of the API server that is not 2xx; `code` is its HTTP status. */
export class ApiError extends Error {
  readonly code: number;
  readonly body: string;
  constructor(method: string, path: string, code: number, body: string) {
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { message?: string }).message ?? message;
    } catch {
      /* not a Status object */
    }
    super(`${method} ${path.split('?')[0]}: ${code} ${message}`);
    this.code = code;
    this.body = body;
  }
}

export interface Credentials {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  /** Read at every request: a projected ServiceAccount token is rotated on disk. */
  token?: () => string;
}

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface WatchHandlers<T extends KubeObject> {
  /** The whole set, after every (re-)list. */
  replaced(items: T[]): void;
  added?(o: T): void;
  modified?(o: T): void;
  deleted?(o: T): void;
}

export class ApiServer {
  private readonly creds: Credentials;
  private readonly agent: Agent;

  constructor(creds: Credentials) {
    this.creds = creds;
    this.agent = new Agent({
      connect: { ...(creds.ca ? { ca: creds.ca } : {}), ...(creds.cert ? { cert: creds.cert, key: creds.key } : {}), rejectUnauthorized: creds.insecure !== true },
      keepAliveTimeout: 30_000,
      allowH2: false, // HTTP/1.1: each watch on a connection of its own, closed cleanly when the server goes
    });
  }

  /** One call; the parsed JSON answer, or an ApiError. */
  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await request(`${this.creds.server}${path}`, {
      method,
      dispatcher: this.agent,
      headers: { ...this.auth(), accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) throw new ApiError(method, path, res.statusCode, text);
    return JSON.parse(text) as T;
  }

  /**
   * Lists `path` (a collection, with any selector), then watches it from the list's
   * resourceVersion; after an error or the end of a watch it lists again (`retryMs` later).
   * Resolves after the first list; `stop()` ends it.
   */
  async watch<T extends KubeObject>(path: string, h: WatchHandlers<T>, onError: (e: Error) => void = () => undefined, retryMs = 1000): Promise<() => void> {
    let stopped = false;
    let abort: AbortController | undefined;
    const sep = path.includes('?') ? '&' : '?';
    const list = async (): Promise<string> => {
      const l = await this.call<{ items: T[]; metadata: { resourceVersion: string } }>('GET', path);
      h.replaced(l.items);
      return l.metadata.resourceVersion;
    };
    const follow = async (rv: string): Promise<void> => {
      abort = new AbortController();
      const res = await request(`${this.creds.server}${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(rv)}`, {
        dispatcher: this.agent, headers: { ...this.auth(), accept: 'application/json' }, signal: abort.signal, headersTimeout: 30_000, bodyTimeout: 0,
      });
      if (res.statusCode !== 200) throw new ApiError('WATCH', path, res.statusCode, await res.body.text());
      let rest = '';
      for await (const chunk of res.body) {
        rest += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (!line.trim()) continue;
          const ev = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } };
          if (ev.type === 'ERROR') throw new ApiError('WATCH', path, ev.object.code ?? 500, JSON.stringify(ev.object)); // 410: list again
          if (ev.type === 'ADDED') h.added?.(ev.object);
          else if (ev.type === 'MODIFIED') h.modified?.(ev.object);
          else if (ev.type === 'DELETED') h.deleted?.(ev.object);
        }
      }
    };
    const loop = async (rv: string): Promise<void> => {
      while (!stopped) {
        try {
          await follow(rv);
        } catch (e) {
          if (stopped) return;
          onError(e as Error);
        }
        while (!stopped) {
          await new Promise((r) => setTimeout(r, retryMs).unref());
          if (stopped) return;
          try {
            rv = await list();
            break;
          } catch (e) {
            onError(e as Error);
          }
        }
      }
    };
    const rv = await list();
    void loop(rv);
    return () => {
      stopped = true;
      abort?.abort();
    };
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private auth(): Record<string, string> {
    const t = this.creds.token?.();
    return t ? { authorization: `Bearer ${t}` } : {};
  }
}

/** The API server and credentials from the environment (see the module comment). */
/**
 * An `onError` for `watch` that tells the operator: a warning naming what was watched and the API
 * server's answer (a 403 names the missing permission), once per distinct error and at most once a
 * minute while it repeats, so that a watch failing every few seconds neither hides nor floods.
 */
export function watchErrorLog(log: { warn(o: object, msg: string): void }, what: string, everyMs = 60_000): (e: Error) => void {
  let last = '';
  let at = 0;
  return (e) => {
    const now = Date.now();
    if (e.message === last && now - at < everyMs) return;
    last = e.message;
    at = now;
    log.warn({ err: e.message.slice(0, 1000) }, `${what}: watch failed; listing again (a 403 means the ServiceAccount lacks that permission: see manifests/router/rbac.yaml)`);
  };
}

export function apiServerFromEnv(env: NodeJS.ProcessEnv = process.env): ApiServer {
  const file = env.KUBECONFIG?.split(':')[0] || join(homedir(), '.kube/config');
  if (existsSync(file)) return new ApiServer(fromKubeconfig(file));
  if (existsSync(join(SERVICE_ACCOUNT, 'token')) && env.KUBERNETES_SERVICE_HOST) {
    const host = env.KUBERNETES_SERVICE_HOST.includes(':') ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST;
    return new ApiServer({ server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? 443}`, ca: readFileSync(join(SERVICE_ACCOUNT, 'ca.crt'), 'utf8'), token: () => readFileSync(join(SERVICE_ACCOUNT, 'token'), 'utf8').trim() });
  }
  throw new Error(`no Kubernetes credentials: neither a kubeconfig at ${file} nor a ServiceAccount token at ${SERVICE_ACCOUNT} (run in a Pod, or set KUBECONFIG)`);
}

interface Kubeconfig {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean } }>;
  users?: Array<{ name: string; user: { token?: string; tokenFile?: string; 'client-certificate'?: string; 'client-certificate-data'?: string; 'client-key'?: string; 'client-key-data'?: string; exec?: unknown; 'auth-provider'?: unknown } }>;
}

/** The current context's server and credentials from a kubeconfig file. */
export function fromKubeconfig(file: string): Credentials {
  return credentialsFromKubeconfig(readFileSync(file, 'utf8'), file);
}

/** The same from a kubeconfig's text; relative file names are taken from beside `file`. */
export function credentialsFromKubeconfig(text: string, file: string): Credentials {
  const kc = parseYaml(text) as Kubeconfig;
  const ctx = kc.contexts?.find((c) => c.name === kc['current-context']);
  if (!ctx) throw new Error(`kubeconfig ${file}: current context "${kc['current-context'] ?? ''}" not found`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.context.cluster)?.cluster;
  const user = kc.users?.find((u) => u.name === ctx.context.user)?.user ?? {};
  if (!cluster) throw new Error(`kubeconfig ${file}: cluster "${ctx.context.cluster}" not found`);
  if (user.exec || user['auth-provider']) throw new Error(`kubeconfig ${file}: user "${ctx.context.user}" uses an exec or auth-provider plugin, which the router does not run; use a token or client certificate, or run it in the cluster`);
  const path = (p: string) => (isAbsolute(p) ? p : join(dirname(file), p));
  const data = (inline: string | undefined, p: string | undefined) => (inline ? Buffer.from(inline, 'base64').toString('utf8') : p ? readFileSync(path(p), 'utf8') : undefined);
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  const token = user.token ? () => user.token! : user.tokenFile ? () => readFileSync(path(user.tokenFile!), 'utf8').trim() : undefined;
  return { server: cluster.server.replace(/\/$/, ''), ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(cluster['insecure-skip-tls-verify'] ? { insecure: true } : {}), ...(token ? { token } : {}) };
}
