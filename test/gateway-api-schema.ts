/**
 * Validates objects against the OpenAPI schemas of the real Gateway API CRDs (structural schema
 * only: CEL rules run in the real API server, see the controller integration tests).
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { gatewayApiCrdsFile } from './components.ts';

interface CrdVersion { name: string; schema?: { openAPIV3Schema?: object } }
interface Crd { kind: string; spec: { group: string; names: { kind: string }; versions: CrdVersion[] } }

let validators: Map<string, ValidateFunction> | undefined;

function load(): Map<string, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  validators = new Map();
  const docs = parseAllDocuments(readFileSync(gatewayApiCrdsFile(), 'utf8'));
  for (const d of Array.isArray(docs) ? docs : []) {
    const crd = d.toJS() as Crd | null;
    if (!crd || crd.kind !== 'CustomResourceDefinition') continue;
    for (const v of crd.spec.versions) {
      if (!v.schema?.openAPIV3Schema) continue;
      validators.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, ajv.compile(v.schema.openAPIV3Schema));
    }
  }
  return validators;
}

/** Returns the schema errors of a Gateway API object, or [] when it validates. Throws for an unknown kind. */
export function gatewayApiSchemaErrors(obj: { apiVersion: string; kind: string }): string[] {
  const v = load().get(`${obj.apiVersion}/${obj.kind}`);
  if (!v) throw new Error(`no Gateway API CRD schema for ${obj.apiVersion} ${obj.kind}`);
  if (v(obj)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}
