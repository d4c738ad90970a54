import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** Where a sandbox keeps its own certificate authority, beside its secrets. */
export function caDirOf(clusterDir: string): string {
  return join(clusterDir, 'ca');
}

/** The sandbox CA's certificate, which every pod's certificate is verified with. */
export function caFileOf(clusterDir: string): string {
  return join(caDirOf(clusterDir), 'ca.crt');
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The sandbox's CA (made once, kept): what cert-manager's CA issuer is in a cluster. */
function ensureCa(caDir: string): void {
  if (existsSync(join(caDir, 'ca.crt'))) return;
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const [key, certificate] = [join(caDir, 'ca.key'), join(caDir, 'ca.crt')];
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=mysql-ha sandbox CA', '-keyout', key, '-out', certificate);
}

/**
 * Writes a certificate for `names` (DNS names or IP addresses) signed by the sandbox CA into
 * `dir` as a cert-manager Secret is mounted: ca.crt, tls.crt, tls.key (mode 0600). Replaces
 * what is there (tests issue a certificate for a wrong name this way).
 */
export function issueCertificate(caDir: string, dir: string, names: string[]): void {
  ensureCa(caDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const request = join(dir, 'tls.csr');
  const extensions = join(dir, 'tls.ext');
  const subjectAltNames = names.map((name) => (isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
  // Servers and the agents' clients use the same certificate, as with cert-manager's usages.
  writeFileSync(extensions, `subjectAltName = ${subjectAltNames}\nextendedKeyUsage = serverAuth, clientAuth\n`);
  try {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${names[0]}`, '-keyout', join(dir, 'tls.key'), '-out', request);
    const serial = `0x${randomBytes(8).toString('hex')}`;
    const ca = ['-CA', join(caDir, 'ca.crt'), '-CAkey', join(caDir, 'ca.key')];
    openssl('x509', '-req', '-in', request, ...ca, '-set_serial', serial, '-days', '825', '-extfile', extensions, '-out', join(dir, 'tls.crt'));
  } finally {
    rmSync(request, { force: true });
    rmSync(extensions, { force: true });
  }
  copyFileSync(join(caDir, 'ca.crt'), join(dir, 'ca.crt'));
}

/** Each pod's certificate (kept once made), naming the pod and the address its peers reach it at. */
export function ensurePodCertificates(clusterDir: string, pods: Array<{ name: string; address: string; tlsDir: string }>): void {
  for (const pod of pods) {
    if (!existsSync(join(pod.tlsDir, 'tls.crt'))) issueCertificate(caDirOf(clusterDir), pod.tlsDir, [pod.name, pod.address]);
  }
}
