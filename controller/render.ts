/**
 * `xtrinode render`: files in, generated objects out, with no cluster. Reads XTrinodes (and,
 * when present, Services) from YAML files or directories, runs the translation, and formats the
 * result as multi-document YAML plus one status line per XTrinode.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, stringify } from 'yaml';
import { API_VERSION, KIND, type XTrinode } from './api/xtrinode.ts';
import { translate, type ServiceInfo, type TranslateOutput } from './translate/translate.ts';
import type { GatewaySettings } from './translate/settings.ts';

export interface InputProblem {
  /** `file:line` */
  where: string;
  object: string;
  field?: string;
  message: string;
}

interface Located {
  file: string;
  line: number;
  /** Line of a field path (dot separated), when the document has it. */
  lineOf(field: string): number;
}

export interface LoadedInput {
  xtrinodes: XTrinode[];
  services: ServiceInfo[];
  located: Map<string, Located>;
  problems: InputProblem[];
  skipped: string[];
}

/** Lists `.yaml`/`.yml`/`.json` files under the given paths (directories recursively), sorted. */
export function listInputFiles(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else if (/\.(ya?ml|json)$/.test(p) || paths.includes(p)) {
      out.push(p);
    }
  };
  for (const p of paths) walk(p);
  return out;
}

export function loadInput(files: string[], readFile: (f: string) => string = (f) => readFileSync(f, 'utf8')): LoadedInput {
  const result: LoadedInput = { xtrinodes: [], services: [], located: new Map(), problems: [], skipped: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFile(file);
    } catch (e) {
      result.problems.push({ where: file, object: '-', message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    const lc = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: true });
    if (!Array.isArray(docs)) continue; // an empty stream
    for (const doc of docs) {
      const start = doc.contents?.range?.[0] ?? 0;
      const line = lc.linePos(start).line;
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        const l = e.linePos?.[0]?.line ?? line;
        result.problems.push({ where: `${file}:${l}`, object: '-', message: `not valid YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}` });
        continue;
      }
      const obj = doc.toJS() as Record<string, unknown> | null;
      if (obj === null || obj === undefined) continue;
      if (typeof obj !== 'object' || Array.isArray(obj)) {
        result.problems.push({ where: `${file}:${line}`, object: '-', message: 'expected a Kubernetes object (a YAML mapping)' });
        continue;
      }
      const meta = (obj.metadata ?? {}) as Record<string, unknown>;
      const name = `${String(obj.kind ?? '?')} ${meta.namespace ? `${String(meta.namespace)}/` : ''}${String(meta.name ?? '?')}`;
      const located: Located = {
        file,
        line,
        lineOf: (field) => {
          const node = doc.getIn(field.split('.'), true) as { range?: [number, number, number] } | undefined;
          return node?.range ? lc.linePos(node.range[0]).line : line;
        },
      };
      if (obj.kind === KIND) {
        if (obj.apiVersion !== API_VERSION) {
          result.problems.push({ where: `${file}:${located.lineOf('apiVersion')}`, object: name, field: 'apiVersion', message: `is "${String(obj.apiVersion)}"; this version reads ${API_VERSION}` });
          continue;
        }
        const xt = obj as unknown as XTrinode;
        const key = `${String(meta.namespace ?? '')}/${String(meta.name ?? '')}`;
        if (result.located.has(key)) {
          result.problems.push({ where: `${file}:${line}`, object: name, message: `defined twice (first at ${result.located.get(key)!.file}:${result.located.get(key)!.line}); the first one is used` });
          continue;
        }
        result.located.set(key, located);
        result.xtrinodes.push(xt);
      } else if (obj.kind === 'Service' && obj.apiVersion === 'v1') {
        result.services.push(obj as unknown as ServiceInfo);
      } else {
        result.skipped.push(`${file}:${line}: ${name} (render reads XTrinodes and Services only)`);
      }
    }
  }
  return result;
}

export interface RenderResult {
  yaml: string;
  statusLines: string[];
  problems: InputProblem[];
  output: TranslateOutput;
}

/**
 * Renders loaded input. Services are checked only when the input holds at least one Service
 * (or `checkServices` is set); otherwise the conventional coordinator Services are assumed.
 */
export function render(input: LoadedInput, settings: GatewaySettings, opts: { checkServices?: boolean } = {}): RenderResult {
  const check = opts.checkServices ?? input.services.length > 0;
  const output = translate({ xtrinodes: input.xtrinodes, services: check ? input.services : undefined, settings });
  const problems = [...input.problems];
  const statusLines: string[] = [];
  for (const [key, report] of output.statuses) {
    const loc = input.located.get(key);
    const accepted = report.status.conditions?.find((c) => c.type === 'Accepted');
    const refs = report.status.conditions?.find((c) => c.type === 'ResolvedRefs');
    for (const p of report.problems) {
      problems.push({ where: loc ? `${loc.file}:${loc.lineOf(p.field)}` : '-', object: `XTrinode ${key}`, field: p.field, message: p.message });
    }
    if (accepted?.status === 'False' && report.problems.length === 0) {
      problems.push({ where: loc ? `${loc.file}:${loc.line}` : '-', object: `XTrinode ${key}`, message: `${accepted.reason}: ${accepted.message}` });
    }
    if (refs?.status === 'False') {
      problems.push({ where: loc ? `${loc.file}:${loc.lineOf('spec.coordinator')}` : '-', object: `XTrinode ${key}`, field: 'spec.coordinator.service', message: `${refs.reason}: ${refs.message}` });
    }
    const s = report.status;
    const parts = [
      s.routingGroup ? `group=${s.routingGroup}` : undefined,
      s.hostnames?.length ? `hostnames=${s.hostnames.join(',')}` : undefined,
      s.headerSelector ? `header=${s.headerSelector}` : undefined,
      s.default ? 'default=true' : undefined,
      ...(s.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`),
    ].filter((x) => x !== undefined);
    statusLines.push(`${key}: ${parts.join(' ')}`);
  }
  return { yaml: toYaml(output.objects), statusLines, problems, output };
}

export function toYaml(objects: unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}

export function formatProblem(p: InputProblem): string {
  return `error: ${p.where}: ${p.object}${p.field ? `: ${p.field}` : ''}: ${p.message}`;
}
