// Just enough of a Dockerfile parser for the checks in test/unit/dockerfiles.test.ts:
// continuation lines, comments, global ARG defaults, stages, COPY flags, exec-form lists.

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  /** The FROM image with global ARG defaults substituted. */
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export interface Copy {
  from: string | undefined;
  flags: Record<string, string>;
  sources: string[];
  destination: string;
}

function logicalLines(text: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let current: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && current === undefined)) return;
    const continues = trimmed.endsWith('\\');
    const part = continues ? trimmed.slice(0, -1).trim() : trimmed;
    current = current ? { text: `${current.text} ${part}`, line: current.line } : { text: part, line: index + 1 };
    if (!continues) {
      lines.push(current);
      current = undefined;
    }
  });
  return lines;
}

function substitute(value: string, args: Record<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced?: string, bare?: string) => args[(braced ?? bare)!] ?? '');
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: line, line: number } of logicalLines(text)) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ base: substitute(words[0]!, globalArgs), name: asIndex === -1 ? undefined : words[asIndex + 1], instructions: [] });
    } else if (stages.length === 0) {
      if (upper !== 'ARG') throw new Error(`line ${number}: only ARG may come before the first FROM (found ${keyword})`);
      const [name, value = ''] = args.split('=', 2) as [string, string?];
      globalArgs[name.trim()] = value.trim().replace(/^"(.*)"$/, '$1');
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args, line: number });
    }
  }
  return { globalArgs, stages };
}

/** The words of an exec-form (JSON) list, e.g. ENTRYPOINT ["node", "x.js"]; undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.trim().startsWith('[')) return undefined;
  return JSON.parse(args) as string[];
}

export function parseCopy(args: string): Copy {
  const flags: Record<string, string> = {};
  const words = args.split(/\s+/);
  while (words[0]?.startsWith('--')) {
    const [flag, value = ''] = words.shift()!.slice(2).split('=', 2) as [string, string?];
    flags[flag] = value;
  }
  const paths = execForm(words.join(' ')) ?? words;
  return { from: flags.from, flags, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

/** Docker's pattern syntax (Go's filepath.Match plus **): unlike shell globs, * also matches names starting with a dot. */
function patternToRegExp(pattern: string): RegExp {
  const source = pattern
    .split(/(\*\*\/?|\*|\?)/)
    .map((part) => {
      if (part === '**/') return '(?:.*/)?';
      if (part === '**') return '.*';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/** Whether .dockerignore keeps `path` out of the build context (the last matching pattern wins; a pattern covering a parent directory covers the path). */
export function isIgnored(path: string, dockerignore: string): boolean {
  const patterns = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const parts = path.replace(/^\.\//, '').replace(/\/$/, '').split('/');
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = (negated ? pattern.slice(1) : pattern).replace(/^\//, '').replace(/\/$/, '');
    const regExp = patternToRegExp(glob);
    if (candidates.some((candidate) => regExp.test(candidate))) ignored = !negated;
  }
  return ignored;
}
