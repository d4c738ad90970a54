// Runs images/mysql-entrypoint.sh with stand-in server binaries, as the unprivileged user
// it runs as in the pods, to check what it runs and when.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { requireTool } from '../support/tools.ts';

const repositoryEntrypoint = resolve('images/mysql-entrypoint.sh');
// Only what the script needs, so a server installed on this machine cannot stand in for the fakes.
const basicTools = ['sh', 'id', 'ls', 'dirname', 'rmdir', 'mkdir', 'chown', 'rm'];

/** A stand-in server binary: logs its arguments; an initialising call creates mysql/ in the data dir. */
function fakeBinary(name: string, initialiseFlag: string | undefined, exitCode = 0): string {
  const initialise =
    initialiseFlag === undefined
      ? ''
      : `
case " $* " in *" ${initialiseFlag} "*)
  for argument in "$@"; do case "$argument" in --datadir=*) mkdir "\${argument#--datadir=}/mysql";; esac; done;;
esac`;
  return `#!/bin/sh\necho "${name} $*" >> "$CALLS"${initialise}\nexit ${exitCode}\n`;
}

describe('images/mysql-entrypoint.sh', () => {
  let root: string;
  let bin: string;
  let datadir: string;
  let cnf: string;
  let calls: string;
  let rundir: string;

  const install = (name: string, script: string) => {
    writeFileSync(join(bin, name), script, { mode: 0o755 });
  };
  const run = (args: string[] = []) => {
    const asUnprivileged =
      process.getuid?.() === 0
        ? [requireTool('/usr/bin/setpriv', 'install util-linux (`apt-get install util-linux`)'), '--reuid=65534', '--regid=65534', '--clear-groups']
        : [];
    const [command, ...rest] = [...asUnprivileged, join(bin, 'sh'), join(bin, 'mysql-entrypoint.sh'), ...args];
    return spawnSync(command!, rest, {
      encoding: 'utf8',
      env: { PATH: bin, CALLS: calls, MYSQL_HA_DATADIR: datadir, MYSQL_HA_CNF: cnf, MYSQL_HA_RUNDIR: rundir },
    });
  };
  const recorded = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'mysql-ha-entrypoint-'));
    bin = join(root, 'bin');
    datadir = join(root, 'data');
    cnf = join(root, 'conf.d', 'mysql-ha.cnf');
    calls = join(root, 'calls.log');
    rundir = join(root, 'run');
    mkdirSync(bin);
    mkdirSync(rundir);
    mkdirSync(datadir);
    mkdirSync(join(root, 'conf.d'));
    writeFileSync(cnf, '[mysqld]\nserver_id = 100\n');
    writeFileSync(calls, '');
    for (const tool of basicTools) symlinkSync(requireTool(`/usr/bin/${tool}`, 'install coreutils and dash'), join(bin, tool));
    // A copy the unprivileged user can read wherever the repository is checked out (a clone may be mode 0700).
    install('mysql-entrypoint.sh', readFileSync(repositoryEntrypoint, 'utf8'));
    for (const path of [root, datadir, calls, rundir]) chmodSync(path, 0o777);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("removes the socket's stale lock before the server starts (in a restarted container its pid is reused, and MySQL refuses)", () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    writeFileSync(join(rundir, 'mysqld.sock.lock'), '44', { mode: 0o666 });
    writeFileSync(join(rundir, 'mysqlx.sock.lock'), '44', { mode: 0o666 });
    writeFileSync(join(rundir, 'kept'), '');
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.equal(existsSync(join(rundir, 'mysqld.sock.lock')), false);
    assert.equal(existsSync(join(rundir, 'mysqlx.sock.lock')), false);
    assert.equal(existsSync(join(rundir, 'kept')), true, 'only lock files are removed');
  });

  it('initialises an empty MySQL data directory, then runs mysqld with the staged cnf first', () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    const result = run(['--port=3307']);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(recorded(), [`mysqld --initialize-insecure --datadir=${datadir}`, `mysqld --defaults-extra-file=${cnf} --datadir=${datadir} --port=3307`]);
    assert.match(result.stderr, /initialising the mysql data directory/);
  });

  it('does not initialise a data directory that has its system schema', () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    mkdirSync(join(datadir, 'mysql'));
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(recorded(), [`mysqld --defaults-extra-file=${cnf} --datadir=${datadir}`]);
  });

  it('on MariaDB (even with a mysqld link) uses mariadb-install-db and mariadbd', () => {
    install('mariadbd', fakeBinary('mariadbd', undefined));
    install('mysqld', fakeBinary('mysqld', undefined));
    install('mariadb-install-db', fakeBinary('mariadb-install-db', '--skip-test-db'));
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(recorded(), [
      `mariadb-install-db --datadir=${datadir} --auth-root-authentication-method=socket --skip-test-db`,
      `mariadbd --defaults-extra-file=${cnf} --datadir=${datadir}`,
    ]);
  });

  it('removes an empty lost+found (a new volume) before initialising', () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    mkdirSync(join(datadir, 'lost+found'), { mode: 0o777 });
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.equal(recorded()[0], `mysqld --initialize-insecure --datadir=${datadir}`);
    assert.ok(!existsSync(join(datadir, 'lost+found')));
  });

  it('refuses to initialise over other files, and leaves them alone', () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    writeFileSync(join(datadir, 'ibdata1'), 'half-initialised');
    const result = run();
    assert.equal(result.status, 1);
    assert.match(result.stderr, /holds files but no mysql\/ system schema .*Nothing was changed/);
    assert.deepEqual(recorded(), []);
    assert.equal(readFileSync(join(datadir, 'ibdata1'), 'utf8'), 'half-initialised');
  });

  it('stops with the reason when the init container did not stage the cnf', () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure'));
    rmSync(cnf);
    const result = run();
    assert.equal(result.status, 1);
    assert.match(result.stderr, /mysql-ha\.cnf does not exist\. It is written by the init container \(mysql-ha-agent stage --conf-dir .*conf\.d\)/);
    assert.deepEqual(recorded(), []);
  });

  it('stops with the reason when the image has no server', () => {
    const result = run();
    assert.equal(result.status, 1);
    assert.match(result.stderr, /neither mariadbd nor mysqld is on PATH/);
  });

  it("the server's exit status is the container's", () => {
    install('mysqld', fakeBinary('mysqld', '--initialize-insecure', 7));
    mkdirSync(join(datadir, 'mysql'));
    assert.equal(run().status, 7);
  });

  it('starts the server again when it exits 16 (the restart a clone asks for), telling it who supervises it', () => {
    // Exits 16 on its first run, 0 on the next; records MYSQLD_PARENT_PID against its parent.
    install(
      'mysqld',
      `#!/bin/sh
echo "mysqld parent-ok=$([ "$MYSQLD_PARENT_PID" = "$PPID" ] && echo yes || echo no)" >> "$CALLS"
[ -e "$CALLS.restarted" ] && exit 0
: > "$CALLS.restarted"
exit 16
`,
    );
    mkdirSync(join(datadir, 'mysql'));
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(recorded(), ['mysqld parent-ok=yes', 'mysqld parent-ok=yes']);
    assert.match(result.stderr, /asked to be started again/);
  });

  it('holds the server stopped while the agent has mysql-ha.hold beside the socket (a restart, a copy swapped in), says so, then starts it again', () => {
    symlinkSync(requireTool('/usr/bin/sleep', 'install coreutils'), join(bin, 'sleep'));
    // First run: as the agent does, a hold file, then the server stops (SHUTDOWN). The "agent" (a
    // background job) waits for the supervisor's mysql-ha.held, then lifts the hold. Second run: exits 0.
    install(
      'mysqld',
      `#!/bin/sh
if [ -e "$CALLS.first" ]; then echo "mysqld started again, held=$([ -e "$MYSQL_HA_RUNDIR/mysql-ha.held" ] && echo yes || echo no)" >> "$CALLS"; exit 0; fi
: > "$CALLS.first"
: > "$MYSQL_HA_RUNDIR/mysql-ha.hold"
( while [ ! -e "$MYSQL_HA_RUNDIR/mysql-ha.held" ]; do sleep 0.05; done; echo "agent saw it held" >> "$CALLS"; rm "$MYSQL_HA_RUNDIR/mysql-ha.hold" ) &
echo "mysqld shut down" >> "$CALLS"
exit 0
`,
    );
    mkdirSync(join(datadir, 'mysql'));
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(recorded(), ['mysqld shut down', 'agent saw it held', 'mysqld started again, held=no']);
    assert.match(result.stderr, /holding mysqld stopped for the agent/);
  });

  it('passes SIGTERM on to the server and exits once the server has shut down', async () => {
    symlinkSync(requireTool('/usr/bin/sleep', 'install coreutils'), join(bin, 'sleep'));
    install(
      'mysqld',
      `#!/bin/sh
trap 'sleep 0.3; echo "mysqld shut down on TERM" >> "$CALLS"; exit 0' TERM
echo "mysqld running" >> "$CALLS"
while :; do sleep 0.05; done
`,
    );
    mkdirSync(join(datadir, 'mysql'));
    // Its own process group, so a test that fails can stop the fake server along with the script.
    const child = spawn(join(bin, 'sh'), [join(bin, 'mysql-entrypoint.sh')], {
      env: { PATH: bin, CALLS: calls, MYSQL_HA_DATADIR: datadir, MYSQL_HA_CNF: cnf, MYSQL_HA_RUNDIR: rundir },
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Deadlines of this test harness, not performance assertions: each step takes milliseconds,
      // and the limits only turn a broken entrypoint (never starting the server, or never passing the
      // signal on) into a failure that says so, instead of a suite that hangs.
      const deadlineMs = 10_000;
      const startedBy = Date.now() + deadlineMs;
      while (!recorded().includes('mysqld running')) {
        if (child.exitCode !== null || Date.now() > startedBy) {
          assert.fail(`the entrypoint did not start the server within ${deadlineMs} ms (exit code ${child.exitCode}); its stderr:\n${stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      child.kill('SIGTERM');
      const exitCode = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(resolve, deadlineMs, 'timeout').unref())]);
      assert.notEqual(exitCode, 'timeout', `the entrypoint had not exited ${deadlineMs} ms after SIGTERM; its stderr:\n${stderr}`);
      assert.equal(exitCode, 0, stderr);
    } finally {
      // Whatever failed, leave nothing of the group running (ESRCH: nothing was left).
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }
    assert.deepEqual(recorded(), ['mysqld running', 'mysqld shut down on TERM']);
  });
});
