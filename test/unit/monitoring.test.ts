// The alert rules and the Grafana dashboard in manifests/monitoring, checked with Prometheus's own
// promtool: the rules load, their `promtool test rules` cases pass, and every query the dashboard
// runs parses and asks only for series the agents export.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { AgentMetrics } from '../../agent/http/metrics.ts';
import { promtoolBinary } from '../support/tools.ts';

const run = promisify(execFile);
const RULES = 'manifests/monitoring/mysql-ha.rules.yaml';
const RULE_TESTS = 'test/monitoring/mysql-ha.rules.test.yaml';
const DASHBOARD = 'manifests/monitoring/grafana-dashboard.json';
/** Grafana's reference to the dashboard's data source variable: the user picks the Prometheus. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template.
const DATASOURCE_VARIABLE = '${datasource}';

interface Rule {
  alert: string;
  expr: string;
}
interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
  datasource: { uid: string };
}

const rules = (): Rule[] => (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((group) => group.rules);
const panels = (): Panel[] => (JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] }).panels;

/** The series names an agent's /metrics has (a histogram's as Prometheus stores them). */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = await new AgentMetrics().registry.getMetricsAsJSON();
  return new Set(
    metrics.flatMap(({ name, type }) => (String(type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => `${name}${suffix}`) : [name])),
  );
}

const seriesIn = (expr: string) => [...expr.matchAll(/\b(mysql_ha_[a-z_]+)\b/g)].map((match) => match[1]!);

test('the alert rules load in promtool, and their unit tests (alerts that fire, and stay quiet) pass', async () => {
  const promtool = promtoolBinary();
  await run(promtool, ['check', 'rules', RULES]);
  const { stdout } = await run(promtool, ['test', 'rules', RULE_TESTS]);
  assert.match(stdout, /SUCCESS/);
  const tested = new Set([...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((match) => match[1]));
  assert.deepEqual(
    rules()
      .map((rule) => rule.alert)
      .filter((alert) => !tested.has(alert)),
    [],
    'every alert has a test case',
  );
});

test('every series the rules and the dashboard ask for is one the agents export', async () => {
  const exported = await exportedSeries();
  const asked = [...rules().map((rule) => rule.expr), ...panels().flatMap((panel) => panel.targets.map((target) => target.expr))].flatMap(seriesIn);
  assert.ok(asked.length > 10);
  assert.deepEqual(
    asked.filter((name) => !exported.has(name)),
    [],
  );
});

test("every dashboard query parses as PromQL (promtool, as recording rules), on the dashboard's data source variable", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mysql-ha-dashboard-'));
  try {
    // Grafana's variables, as Grafana substitutes them.
    const queries = panels().flatMap((panel) => {
      assert.equal(panel.datasource.uid, DATASOURCE_VARIABLE, `panel "${panel.title}" names no fixed data source`);
      return panel.targets.map((target) => target.expr.replaceAll('$namespace', '.*').replaceAll('$__rate_interval', '1m'));
    });
    const file = join(dir, 'dashboard-queries.yaml');
    const recording = queries.map((expr, index) => `      - record: dashboard_query_${index}\n        expr: ${JSON.stringify(expr)}`);
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${recording.join('\n')}\n`);
    await run(promtoolBinary(), ['check', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
