/**
 * `npm audit --omit=dev`, failing on high or critical advisories in what zkfl ships. Where the registry serves no
 * audit endpoint (a mirror that answers 405, no network) it says so and does not fail: nothing could be checked,
 * which is not a clean result, and the message says which it was.
 */
import { spawnSync } from 'node:child_process';

interface AuditReport {
  metadata?: { vulnerabilities: Record<string, number> };
  vulnerabilities?: Record<string, { severity: string; range: string }>;
  message?: string;
}

const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report: AuditReport;
try {
  report = JSON.parse(run.stdout) as AuditReport;
} catch {
  process.stderr.write(`npm audit printed no report: ${run.stderr.trim()}\n`);
  process.exit(1);
}
const counts = report.metadata?.vulnerabilities;
if (!counts) {
  process.stderr.write(`npm audit: NOT CHECKED, the audit service is unavailable here (${report.message ?? '?'})\n`);
  process.exit(0);
}
process.stderr.write(`npm audit --omit=dev: ${JSON.stringify(counts)}\n`);
const serious = Object.entries(report.vulnerabilities ?? {}).filter(([, advisory]) =>
  ['high', 'critical'].includes(advisory.severity),
);
for (const [name, advisory] of serious) process.stderr.write(`  ${advisory.severity}: ${name} (${advisory.range})\n`);
process.exit(serious.length > 0 ? 1 : 0);
