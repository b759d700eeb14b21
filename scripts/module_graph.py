#!/usr/bin/env python3
"""The import graph of skycountd's modules, and the two rules the crate keeps.

    scripts/module_graph.py            check the rules; exit 1 naming what breaks them
    scripts/module_graph.py --table    also print each module's lines and who it imports

A module is a top-level entry of daemon/src (a file, or a folder with its files): `decode`,
`engine`, `publish`, ... An import is any `crate::<module>` in its code, comments left out (tests
included: a test that needs another module's internals is a dependency too).

Rules:
1. No import cycle between modules (data and control flow one way).
2. `publish` (the viewers' side) is imported by nothing but `commands` and main.rs: the stages
   report through events and never hold the hub.
3. No import cycle between the files of one folder module either (`publish/auth.rs` and
   `publish/operator.rs` once imported each other): a sibling is imported as `super::<file>` or
   `crate::<module>::<file>`; the folder's mod.rs, which declares them all, is left out.
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "daemon" / "src"
ALLOWED_PUBLISH_IMPORTERS = {"commands", "main"}


def module_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".rs")


def graph():
    edges: dict[str, set[str]] = {}
    lines: dict[str, int] = {}
    for f in sorted(SRC.rglob("*.rs")):
        m = module_of(f)
        text = f.read_text()
        lines[m] = lines.get(m, 0) + text.count("\n")
        # Comments (doc links included) name modules without depending on them.
        text = "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())
        deps = edges.setdefault(m, set())
        for dep in re.findall(r"\bcrate::([a-z_]+)", text):
            if dep != m:
                deps.add(dep)
        if m == "main":
            deps.update(re.findall(r"\bskycountd::([a-z_]+)", text))
            deps.update(
                d.strip()
                for group in re.findall(r"use skycountd::\{([^}]*)\}", text)
                for d in group.split(",")
                if d.strip() and "::" not in d
            )
    return edges, lines


def sibling_graphs():
    """{folder module: {file: the sibling files it imports}} for every folder of daemon/src."""
    out: dict[str, dict[str, set[str]]] = {}
    for f in sorted(SRC.rglob("*.rs")):
        rel = f.relative_to(SRC)
        if len(rel.parts) < 2 or rel.parts[1] == "mod.rs":
            continue
        folder, me = rel.parts[0], rel.parts[1].removesuffix(".rs")
        text = "\n".join(re.sub(r"//.*", "", line) for line in f.read_text().splitlines())
        deps = out.setdefault(folder, {}).setdefault(me, set())
        found = re.findall(rf"\bcrate::{folder}::([a-z_]+)", text)
        if len(rel.parts) == 2:  # `super` of a file directly in the folder is the folder
            found += re.findall(r"\bsuper::([a-z_]+)", text)
        deps.update(d for d in found if d != me)
    for folder, files in out.items():
        for deps in files.values():
            deps &= files.keys()  # items of mod.rs itself are not a sibling
    return out


def cycles(edges):
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for n in sorted(edges):
        if n not in state:
            visit(n, [n])
    return found


def main():
    edges, lines = graph()
    if "--table" in sys.argv:
        print("| module | lines | imports |\n| --- | --- | --- |")
        for m in sorted(edges):
            print(f"| {m} | {lines[m]} | {', '.join(sorted(edges[m])) or '-'} |")
    problems = [f"import cycle: {' -> '.join(c)}" for c in cycles(edges)]
    siblings = sibling_graphs()
    problems += [
        f"import cycle in {folder}/: {' -> '.join(c)}"
        for folder, files in sorted(siblings.items())
        for c in cycles(files)
    ]
    problems += [
        f"{m} imports publish (only {', '.join(sorted(ALLOWED_PUBLISH_IMPORTERS))} may)"
        for m, deps in sorted(edges.items())
        if "publish" in deps and m not in ALLOWED_PUBLISH_IMPORTERS
    ]
    for p in problems:
        print(p, file=sys.stderr)
    print(f"module graph: {len(edges)} modules, {sum(len(v) for v in siblings.values())} files in folders, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
