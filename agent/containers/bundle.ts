// The agent as one file for its image (run by Dockerfile.agent's build stage): esbuild bundles
// agent/cli.ts with its dependencies into dist/image/bin/agent.mjs (and chunks beside it, loaded
// when first imported), so the image carries about 10 MB instead of some 105 MB of node_modules.
import { cpSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

/** What the build stage writes; the final stage copies it to /app. */
export const BUNDLE_DIR = 'dist/image';
/** The agent, relative to BUNDLE_DIR. */
export const BUNDLE_ENTRY = 'bin/agent.mjs';

export async function bundleAgent(): Promise<void> {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  await build({
    entryPoints: { agent: 'agent/cli.ts' },
    outdir: `${BUNDLE_DIR}/bin`,
    outExtension: { '.js': '.mjs' },
    // What is imported only when used (the Kubernetes client, half the code; etcd's; the sandbox)
    // goes in chunks of its own: an agent holds in memory only the source it loaded.
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Whitespace and syntax only: stack traces keep their names.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // CommonJS dependencies call require() and read __dirname (etcd3 loads its .proto files by it).
    banner: {
      js: [
        "import { createRequire as __bundleRequire } from 'node:module';",
        "import { dirname as __bundleDirname } from 'node:path';",
        "import { fileURLToPath as __bundlePath } from 'node:url';",
        'const require = __bundleRequire(import.meta.url);',
        'const __filename = __bundlePath(import.meta.url);',
        'const __dirname = __bundleDirname(__filename);',
      ].join(' '),
    },
  });
  // etcd3 reads `${__dirname}/../proto/rpc.proto` at startup: beside bin/.
  cpSync('node_modules/etcd3/proto', `${BUNDLE_DIR}/proto`, { recursive: true });
}

if (import.meta.main) await bundleAgent();
