import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { kubectlBinary } from './tools.ts';

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

const kubectlEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: '/dev/null' };

/** `kubectl kustomize DIR`, parsed. Local only: kustomize reads the directory and contacts no server. */
export function kustomizeBuild(dir: string): ManifestObject[] {
  const result = spawnSync(kubectlBinary(), ['kustomize', dir], { encoding: 'utf8', env: kubectlEnv, timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${dir} failed (exit ${result.status}): ${result.stderr || result.error?.message}`);
  }
  const documents = parseAllDocuments(result.stdout);
  if (!Array.isArray(documents)) throw new Error(`kubectl kustomize ${dir} printed nothing`);
  return documents.map((document, index) => {
    if (document.errors.length > 0) throw new Error(`document ${index} of kubectl kustomize ${dir}: ${document.errors.map((e) => e.message).join('; ')}`);
    return document.toJS() as ManifestObject;
  });
}
