/**
 * Where the router's route table comes from: the `trino-gateway-routes` ConfigMap (watched
 * through the API server) or a file (polled). Each version is validated as a whole; a refused
 * one leaves the last good table in force.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ApiServer, KubeObject } from './api-server.ts';
import { parseRouteTable, routeTableText, type RouteTable } from '../routetable/schema.ts';

export interface TableSink {
  setTable(t: RouteTable): void;
  refuseTable(reason: string): void;
}

/** Applies one document to the sink; returns whether it was applied. Unchanged text is a no-op. */
export function applyTableText(sink: TableSink, text: string | undefined, source: string, last: { text?: string }): boolean {
  if (text !== undefined && text === last.text) return true;
  const r = parseRouteTable(text);
  if (!r.ok) {
    sink.refuseTable(`${source}: ${r.error}`);
    return false;
  }
  last.text = text;
  sink.setTable(r.table);
  return true;
}

/** Polls a file for changes (mtime and size), every `intervalMs`. Returns a stop function. */
export async function watchTableFile(sink: TableSink, file: string, intervalMs = 1000): Promise<() => void> {
  const last: { text?: string } = {};
  let sig = '';
  const load = async () => {
    try {
      const st = await stat(file);
      const s = `${st.mtimeMs}:${st.size}`;
      if (s === sig) return;
      sig = s;
      applyTableText(sink, await readFile(file, 'utf8'), file, last);
    } catch (e) {
      sink.refuseTable(`${file}: cannot read: ${(e as Error).message}`);
    }
  };
  await load();
  const t = setInterval(() => void load(), intervalMs);
  t.unref();
  return () => clearInterval(t);
}

/** Watches the route table ConfigMap (lists and watches again after errors). */
export async function watchTableConfigMap(sink: TableSink, namespace: string, name: string, api: ApiServer, onError: (e: Error) => void = () => undefined): Promise<() => void> {
  const last: { text?: string } = {};
  const where = `ConfigMap ${namespace}/${name}`;
  type ConfigMap = KubeObject & { data?: Record<string, string>; binaryData?: Record<string, string> };
  const onObj = (cm: ConfigMap) => {
    let text: string | undefined;
    try {
      text = routeTableText(cm);
    } catch (e) {
      sink.refuseTable(`${where}: ${(e as Error).message}`);
      return;
    }
    applyTableText(sink, text, where, last);
  };
  return api.watch<ConfigMap>(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
    {
      replaced: (items) => {
        if (items[0]) onObj(items[0]);
        else sink.refuseTable(`${where} does not exist (yet): the controller writes it`);
      },
      added: onObj,
      modified: onObj,
      deleted: () => sink.refuseTable(`${where} was deleted; keeping the last good table`),
    },
    onError,
    2000,
  );
}
