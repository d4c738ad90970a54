// The OpenAPI schemas that kubernetes-models validates against allow unknown fields, so a
// misspelt field (say `readinesProbe`) passes them, while a real API server with strict
// field validation (kubectl's default since 1.27) rejects it. This walks an object along
// the field lists of @kubernetes/client-node's generated models, which come from the same
// OpenAPI document, and reports every field they do not have.
import * as models from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
}

type Model = { getAttributeTypeMap(): Attribute[] };

const leafTypes = new Set(['string', 'number', 'boolean', 'any', 'object', 'Date', 'IntOrString']);

function modelNamed(typeName: string): Model {
  const model = (models as unknown as Record<string, unknown>)[typeName];
  if (typeof model !== 'function' || !('getAttributeTypeMap' in model)) {
    throw new Error(`@kubernetes/client-node has no model ${typeName}`);
  }
  return model as unknown as Model;
}

/** The client's model name for a top-level object, e.g. apps/v1 StatefulSet -> V1StatefulSet. */
export function modelNameFor(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').at(-1)!;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
}

function walk(value: unknown, typeName: string, path: string, problems: string[]): void {
  if (value === null || value === undefined || leafTypes.has(typeName)) return;
  const array = /^Array<(.+)>$/.exec(typeName);
  if (array) {
    if (Array.isArray(value)) for (const [index, item] of value.entries()) walk(item, array[1]!, `${path}[${index}]`, problems);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (map) {
    if (typeof value === 'object') for (const [key, item] of Object.entries(value)) walk(item, map[1]!, `${path}.${key}`, problems);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return; // a type mismatch: the schema validation reports it
  const attributes = modelNamed(typeName).getAttributeTypeMap();
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.find((candidate) => candidate.baseName === key);
    if (!attribute) problems.push(`${path}.${key}: unknown field (not in ${typeName})`);
    else walk(item, attribute.type, `${path}.${key}`, problems);
  }
}

/** Every field of `object` that its Kubernetes type does not define, as "path: unknown field". */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const problems: string[] = [];
  walk(object, modelNameFor(object.apiVersion, object.kind), object.kind, problems);
  return problems;
}
