// The import graph of src/, read with the TypeScript compiler's parser only (no type checking, so it takes well
// under a second): each file's relative imports and re-exports, resolved to files, marked type-only or not.
// tests/unit/layers.test.ts checks the layering rules of docs/ARCHITECTURE.md against it.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** Both paths relative to the source root, with '/' separators: 'ui/panels/ModelPanel.tsx'. */
  from: string;
  to: string;
  /** `import type` / `export type`, or every named binding marked `type`: erased from the JavaScript. */
  typeOnly: boolean;
}

const SOURCE = /\.(ts|tsx)$/;
const RESOLVE = ['', '.ts', '.tsx', '/index.ts'];

export function listSources(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(root);
  return out;
}

/** Every relative import of every source file under `root` (packages are not followed). */
export function importGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const rel = (p: string) => relative(root, p).split(sep).join('/');
  for (const file of listSources(root)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    for (const { spec, typeOnly } of importsOf(source)) {
      if (!spec.startsWith('.')) continue;
      const target = resolveSpec(dirname(file), spec);
      if (!target) throw new Error(`${rel(file)}: cannot resolve '${spec}'`);
      edges.push({ from: rel(file), to: rel(target), typeOnly });
    }
  }
  return edges;
}

function importsOf(source: ts.SourceFile): { spec: string; typeOnly: boolean }[] {
  const found: { spec: string; typeOnly: boolean }[] = [];
  for (const st of source.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      const named =
        clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : null;
      const allNamedTypes = !!named && named.length > 0 && !clause?.name && named.every((e) => e.isTypeOnly);
      found.push({ spec: st.moduleSpecifier.text, typeOnly: !!clause && (clause.isTypeOnly || allNamedTypes) });
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const named = st.exportClause && ts.isNamedExports(st.exportClause) ? st.exportClause.elements : null;
      const allNamedTypes = !!named && named.length > 0 && named.every((e) => e.isTypeOnly);
      found.push({ spec: st.moduleSpecifier.text, typeOnly: st.isTypeOnly || allNamedTypes });
    }
  }
  // Dynamic import('…') loads code too.
  const visit = (node: ts.Node) => {
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    )
      found.push({ spec: node.arguments[0].text, typeOnly: false });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveSpec(dir: string, spec: string): string | null {
  const base = resolve(dir, spec.split('?')[0]);
  for (const ext of RESOLVE) {
    const p = base + ext;
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return null;
}

/** The top folder of a path under the source root ('ui/stores/runs.ts' → 'ui'); files at the root → '.'. */
export function folderOf(path: string): string {
  const i = path.indexOf('/');
  return i < 0 ? '.' : path.slice(0, i);
}

/** A cycle in the folder graph (as the list of folders around it), or null. */
export function findFolderCycle(edges: readonly ImportEdge[]): string[] | null {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const [a, b] = [folderOf(e.from), folderOf(e.to)];
    if (a !== b) (next.get(a) ?? next.set(a, new Set()).get(a)!).add(b);
  }
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const dfs = (f: string): string[] | null => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of next.get(f) ?? []) {
      if (state.get(g) === 'open') return [...stack.slice(stack.indexOf(g)), g];
      if (!state.has(g)) {
        const c = dfs(g);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(f, 'done');
    return null;
  };
  for (const f of next.keys()) {
    if (!state.has(f)) {
      const c = dfs(f);
      if (c) return c;
    }
  }
  return null;
}

/** Files reachable from `starts` through imports that stay in the JavaScript, with the chain that reaches each. */
export function runtimeReach(edges: readonly ImportEdge[], starts: readonly string[]): Map<string, string[]> {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) (next.get(e.from) ?? next.set(e.from, []).get(e.from)!).push(e.to);
  const chain = new Map<string, string[]>(starts.map((s) => [s, [s]]));
  const queue = [...starts];
  while (queue.length > 0) {
    const f = queue.shift()!;
    for (const g of next.get(f) ?? []) {
      if (chain.has(g)) continue;
      chain.set(g, [...chain.get(f)!, g]);
      queue.push(g);
    }
  }
  return chain;
}
