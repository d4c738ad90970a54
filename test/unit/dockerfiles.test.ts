// Static checks of the two Dockerfiles, fast and without Docker (the container suites build
// and run both images): what they copy exists and is in the build context, the agent image
// runs the bundle its build stage writes, the final stages run as non-root, base images
// are pinned, and the npm registry's CA reaches the build as a secret, never a layer.
import assert from 'node:assert/strict';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';
import { BUNDLE_DIR, BUNDLE_ENTRY } from '../../agent/containers/bundle.ts';
import { AGENT_NODE_OPTIONS } from '../../agent/sandbox/pod.ts';
import { type Dockerfile, execForm, isIgnored, parseCopy, parseDockerfile, type Stage } from '../support/dockerfile.ts';

const packageJson = JSON.parse(readFileSync('package.json', 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
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

  it("runs the bundle its build stage writes (agent/containers/bundle.ts), with the sandbox's Node options", () => {
    assert.ok(build, 'no stage named build');
    assert.ok(
      instructions(build, 'RUN').some((run) => run.args === 'node agent/containers/bundle.ts'),
      'the build stage does not run agent/containers/bundle.ts',
    );
    const buildWorkdir = lastOf(build, 'WORKDIR')!;
    const copies = instructions(final, 'COPY').map((instruction) => parseCopy(instruction.args));
    const bundle = copies.find((copy) => copy.from === 'build' && copy.sources.includes(posix.join(buildWorkdir, BUNDLE_DIR)));
    assert.ok(bundle, `the final stage does not copy ${posix.join(buildWorkdir, BUNDLE_DIR)} from the build stage`);
    assert.deepEqual(execForm(lastOf(final, 'ENTRYPOINT') ?? ''), ['node', posix.join(bundle.destination, BUNDLE_ENTRY)]);
    assert.ok(
      instructions(final, 'ENV').some((env) => env.args === `NODE_OPTIONS="${AGENT_NODE_OPTIONS}"`),
      'the agent image runs node with the options the sandbox uses',
    );
  });

  it('installs nothing in the final stage, and takes the registry CA as a build secret only', () => {
    assert.deepEqual(instructions(final, 'RUN'), [], 'the final stage runs commands: it should only copy the bundle');
    const install = instructions(build!, 'RUN').find((run) => /\bnpm ci\b/.test(run.args));
    assert.ok(install, 'the build stage does not run npm ci');
    assert.match(install.args, /^--mount=type=secret,id=npm-ca\b/);
    for (const stage of dockerfile.stages) {
      for (const keyword of ['ARG', 'ENV'])
        assert.deepEqual(
          instructions(stage, keyword).filter((i) => /\bCA\b|cafile|CERT/i.test(i.args)),
          [],
        );
    }
  });

  it("has a with-server-tools target for MariaDB pods: the same bundle, Node and options on the server's image, nothing installed", () => {
    const variant = dockerfile.stages.find((stage) => stage.name === 'with-server-tools');
    assert.ok(variant, 'no stage named with-server-tools');
    assert.equal(variant.base, dockerfile.globalArgs.SERVER_IMAGE);
    assert.match(variant.base, /^mariadb:11\.8\.\d+$/);
    assert.deepEqual(instructions(variant, 'RUN'), [], 'it installs nothing: mariadb-backup comes with the server image');
    const copies = instructions(variant, 'COPY').map((instruction) => parseCopy(instruction.args));
    assert.ok(copies.some((copy) => copy.from === 'build' && copy.sources.includes('/usr/local/bin/node')));
    const argsOf = (stage: Stage, keyword: string) => instructions(stage, keyword).map((instruction) => instruction.args);
    for (const keyword of ['ENV', 'USER', 'ENTRYPOINT']) assert.deepEqual(argsOf(variant, keyword), argsOf(final, keyword), keyword);
    for (const copy of instructions(final, 'COPY'))
      assert.ok(
        instructions(variant, 'COPY').some((other) => other.args === copy.args),
        copy.args,
      );
    assert.deepEqual(execForm(lastOf(variant, 'CMD') ?? ''), [], "CMD [] so the server image's CMD (mariadbd) is not passed to the agent");
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
    assert.match(text, /in\s+(# )?no Debian suite/, 'the default names MySQL 8.4, which the tests cannot build: it says so');
  });

  /** The final stage's COPY of `source`, a file that is executable in the repository (COPY keeps the mode). */
  function executableCopied(source: string) {
    const copy = instructions(final, 'COPY')
      .map((instruction) => parseCopy(instruction.args))
      .find((candidate) => candidate.sources.includes(source));
    assert.ok(copy, `${source} is not copied`);
    accessSync(source, constants.X_OK);
    return copy;
  }

  it("runs the repository's entrypoint, executable in the repository (COPY keeps the mode)", () => {
    const copy = executableCopied('images/mysql-entrypoint.sh');
    assert.deepEqual(execForm(lastOf(final, 'ENTRYPOINT') ?? ''), [copy.destination]);
    assert.deepEqual(execForm(lastOf(final, 'CMD') ?? ''), [], "CMD [] so the base image's CMD (mysqld) is not passed as an argument");
  });

  it("carries the preStop hook where the StatefulSet's server container runs it", () => {
    const copy = executableCopied('images/mysql-pre-stop.sh');
    const statefulSet = readFileSync('manifests/statefulset.yaml', 'utf8');
    assert.ok(statefulSet.includes(copy.destination), `manifests/statefulset.yaml does not run ${copy.destination}`);
  });
});

describe('.dockerignore', () => {
  it('keeps local builds, dependencies and secrets-prone files out of the build context', () => {
    for (const path of ['node_modules/yaml/package.json', 'dist/agent/cli.js', '.git/config', '.sandbox/x', 'test/unit/x.test.ts', 'manifests/agent.env']) {
      assert.ok(isIgnored(path, dockerignore), `${path} would be sent to the Docker daemon`);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      join('agent', 'cli.ts'),
      'images/mysql-entrypoint.sh',
      'images/mysql-pre-stop.sh',
    ]) {
      assert.ok(!isIgnored(path, dockerignore), `${path} is needed by a Dockerfile but ignored`);
    }
  });
});
