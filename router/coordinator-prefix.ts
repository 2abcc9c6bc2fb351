/**
 * Coordinator prefixes: `/xtrinode/c/<namespace>/<name>` names one coordinator in a URL. The
 * Gateway strips it and sets X-Forwarded-Prefix, so Trino writes it into every nextUri; the
 * router does the same for requests that reach it with a prefix (hostname routes of Gateways
 * that rank `/xtrinode` above another group's prefix route; coordinators not ready).
 *
 * @example
 * parseCoordinatorPath('/xtrinode/c/prod/a/v1/statement/executing/x/y/1')
 * // { id: 'prod/a', prefix: '/xtrinode/c/prod/a', rest: '/v1/statement/executing/x/y/1' }
 */
export const COORDINATOR_PATH_ROOT = '/xtrinode/c/';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type CoordinatorPath = { id: string; prefix: string; rest: string } | { malformed: string };

/** Splits a path under `/xtrinode/c/`; `undefined` when it is not one. `rest` keeps the query string. */
export function parseCoordinatorPath(url: string): CoordinatorPath | undefined {
  if (!url.startsWith(COORDINATOR_PATH_ROOT)) return undefined;
  const after = url.slice(COORDINATOR_PATH_ROOT.length);
  const m = /^([^/?]*)\/([^/?]*)(.*)$/.exec(after);
  if (!m || !LABEL.test(m[1]!) || !LABEL.test(m[2]!)) return { malformed: 'a coordinator path is /xtrinode/c/<namespace>/<name>/...' };
  const tail = m[3]!;
  if (tail !== '' && !tail.startsWith('/') && !tail.startsWith('?')) return { malformed: 'a coordinator path is /xtrinode/c/<namespace>/<name>/...' };
  const rest = tail === '' ? '/' : tail.startsWith('?') ? `/${tail}` : tail;
  const id = `${m[1]}/${m[2]}`;
  return { id, prefix: `/xtrinode/c/${id}`, rest };
}
