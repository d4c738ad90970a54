// Static checks of the two Dockerfiles (no Docker engine here to build them): what they
// copy exists and is in the build context, the agent image runs what `npm run build`
// emits, the final stages run as non-root, and base images are pinned.
import assert from 'node:assert/strict';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_NODE_OPTIONS } from '../../agent/sandbox/pod.ts';
import { type Dockerfile, execForm, isIgnored, parseCopy, parseDockerfile, type Stage } from '../support/dockerfile.ts';

const packageJson = JSON.parse(readFileSync('package.json', 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const tsconfig = JSON.parse(readFileSync('tsconfig.json', 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
const dockerignore = readFileSync('.dockerignore', 'utf8');
const dockerfiles = {
  agent: parseDockerfile(readFileSync('Dockerfile.agent', 'utf8')),
  mysql: parseDockerfile(readFileSync('Dockerfile.mysql', 'utf8')),
};

const finalStage = (dockerfile: Dockerfile): Stage => dockerfile.stages.at(-1)!;
const instructions = (stage: Stage, keyword: string) => stage.instructions.filter((instruction) => instruction.keyword === keyword);
const lastOf = (stage: Stage, keyword: string) => instructions(stage, keyword).at(-1)?.args;

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => posix.join(entry.parentPath.replaceAll('\\', '/'), entry.name));
}

/** name:tag with a full x.y.z version in the tag. */
function assertPinned(image: string, where: string): string {
  const match = /^[a-z0-9./-]+:(\d+\.\d+\.\d+)(-[a-z0-9.-]+)?$/.exec(image);
  assert.ok(match, `${where}: base image "${image}" is not pinned to a full version tag (e.g. mysql:8.4.8)`);
  return match[1]!;
}

for (const [name, dockerfile] of Object.entries(dockerfiles)) {
  describe(`Dockerfile.${name}`, () => {
    it('copies only files that exist in the repository and are in the build context, or come from an earlier stage', () => {
      dockerfile.stages.forEach((stage, index) => {
        for (const copy of instructions(stage, 'COPY').map((instruction) => parseCopy(instruction.args))) {
          if (copy.from !== undefined) {
            const earlier = dockerfile.stages.slice(0, index).flatMap((s, i) => [s.name, String(i)]);
            assert.ok(earlier.includes(copy.from), `COPY --from=${copy.from}: no earlier stage has that name`);
            continue;
          }
          for (const source of copy.sources) {
            const files = filesUnder(source);
            assert.ok(files.length > 0, `COPY ${source}: nothing there`);
            for (const file of files) {
              assert.ok(!isIgnored(file, dockerignore), `COPY ${source}: ${file} is excluded by .dockerignore`);
            }
          }
        }
        assert.deepEqual(instructions(stage, 'ADD'), [], 'use COPY, not ADD');
      });
    });

    it('runs as a non-root user in its final stage', () => {
      const user = lastOf(finalStage(dockerfile), 'USER');
      assert.ok(user, 'the final stage sets no USER, so it runs as root');
      assert.doesNotMatch(user, /^(root|0)(:|$)/, `USER ${user} is root`);
    });

    it('pins every base image to a full version', () => {
      for (const stage of dockerfile.stages) {
        if (dockerfile.stages.some((other) => other.name === stage.base)) continue;
        assert.doesNotMatch(stage.base, /:latest$/);
        assertPinned(stage.base, `Dockerfile.${name}`);
      }
    });
  });
}

describe('Dockerfile.agent', () => {
  const dockerfile = dockerfiles.agent;
  const final = finalStage(dockerfile);
  const build = dockerfile.stages.find((stage) => stage.name === 'build');

  it('runs the CLI that `npm run build` emits: package.json bin, under tsconfig outDir', () => {
    const bin = packageJson.bin['mysql-ha-agent'];
    assert.ok(bin, 'package.json has no bin mysql-ha-agent');
    const { outDir, rootDir } = tsconfig.compilerOptions;
    // tsc maps <rootDir>/agent/cli.ts to <outDir>/agent/cli.js.
    const source = posix.join(rootDir, posix.relative(outDir, bin)).replace(/\.js$/, '.ts');
    accessSync(source, constants.R_OK);
    assert.match(packageJson.scripts.build!, /\btsc\b.*-p tsconfig\.json/);

    assert.ok(build, 'no stage named build');
    assert.ok(
      instructions(build, 'RUN').some((run) => /\bnpm run build\b/.test(run.args)),
      'the build stage does not run npm run build',
    );
    const workdir = lastOf(final, 'WORKDIR')!;
    const entrypoint = execForm(lastOf(final, 'ENTRYPOINT') ?? '');
    assert.deepEqual(entrypoint, ['node', posix.join(workdir, bin)], 'ENTRYPOINT must be exec form running the bin with node');
    assert.ok(
      instructions(final, 'ENV').some((env) => env.args === `NODE_OPTIONS=${AGENT_NODE_OPTIONS}`),
      'the agent image runs node with the options the sandbox uses',
    );

    const buildWorkdir = lastOf(build, 'WORKDIR')!;
    const copies = instructions(final, 'COPY').map((instruction) => parseCopy(instruction.args));
    const dist = copies.find((copy) => copy.from === 'build' && copy.sources.includes(posix.join(buildWorkdir, outDir)));
    assert.ok(dist, `the final stage does not copy ${posix.join(buildWorkdir, outDir)} from the build stage`);
    assert.equal(posix.resolve(workdir, dist.destination), posix.join(workdir, outDir));
  });

  it('installs production dependencies only in the final stage', () => {
    const installs = instructions(final, 'RUN').filter((run) => /\bnpm (ci|install)\b/.test(run.args));
    assert.ok(installs.length > 0, 'the final stage installs no dependencies');
    for (const install of installs) assert.match(install.args, /npm ci --omit=dev/);
  });

  it('runs the Node version the tests run on (package.json devDependencies.node)', () => {
    const version = assertPinned(final.base, 'Dockerfile.agent');
    assert.equal(version, packageJson.devDependencies.node);
    assert.match(final.base, /^node:[\d.]+-bookworm-slim$/);
    assert.ok(Number(version.split('.')[0]) >= Number(/\d+/.exec(packageJson.engines.node)![0]), 'older than package.json engines.node');
    assert.equal(build?.base, final.base);
  });
});

describe('Dockerfile.mysql', () => {
  const final = finalStage(dockerfiles.mysql);

  it('defaults to a pinned mysql:8.4 base, replaceable with the BASE_IMAGE build argument', () => {
    assert.match(dockerfiles.mysql.globalArgs.BASE_IMAGE ?? '', /^mysql:8\.4\.\d+$/);
    assert.equal(final.base, dockerfiles.mysql.globalArgs.BASE_IMAGE);
    const text = readFileSync('Dockerfile.mysql', 'utf8');
    assert.match(text, /--build-arg BASE_IMAGE=mysql:9\./);
    assert.match(text, /mariadb:11\.4\./);
    assert.match(text, /mariadb:10\.11\./);
  });

  it("runs the repository's entrypoint, copied executable", () => {
    const copy = instructions(final, 'COPY')
      .map((instruction) => parseCopy(instruction.args))
      .find((candidate) => candidate.sources.includes('images/mysql-entrypoint.sh'));
    assert.ok(copy, 'images/mysql-entrypoint.sh is not copied');
    assert.equal(copy.flags.chmod, '0755');
    accessSync('images/mysql-entrypoint.sh', constants.X_OK);
    assert.deepEqual(execForm(lastOf(final, 'ENTRYPOINT') ?? ''), [copy.destination]);
    assert.deepEqual(execForm(lastOf(final, 'CMD') ?? ''), [], "CMD [] so the base image's CMD (mysqld) is not passed as an argument");
  });
});

describe('.dockerignore', () => {
  it('keeps local builds, dependencies and secrets-prone files out of the build context', () => {
    for (const path of ['node_modules/yaml/package.json', 'dist/agent/cli.js', '.git/config', '.sandbox/x', 'test/unit/x.test.ts', 'manifests/agent.env']) {
      assert.ok(isIgnored(path, dockerignore), `${path} would be sent to the Docker daemon`);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', join('agent', 'cli.ts'), 'images/mysql-entrypoint.sh']) {
      assert.ok(!isIgnored(path, dockerignore), `${path} is needed by a Dockerfile but ignored`);
    }
  });
});
