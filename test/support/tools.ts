import { accessSync, constants } from 'node:fs';

/**
 * Returns `path` if it is an executable file; otherwise throws, so a test that needs a
 * missing tool fails and says how to get it instead of quietly skipping.
 */
export function requireTool(path: string, howToInstall: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`this test needs ${path}, which is missing or not executable: ${howToInstall}`);
  }
  return path;
}

export const haproxyBinary = () => requireTool('/usr/sbin/haproxy', 'install it with `apt-get install haproxy` (Debian bookworm ships 2.6)');
export const kubectlBinary = () => requireTool('/usr/bin/kubectl', 'install kubectl (it carries kustomize), e.g. `apt-get install kubernetes-client`');
export const unshareBinary = () => requireTool('/usr/bin/unshare', 'install util-linux (`apt-get install util-linux`)');
export const promtoolBinary = () => requireTool('/usr/bin/promtool', 'install Prometheus, which carries promtool (`apt-get install prometheus`)');
