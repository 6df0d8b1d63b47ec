"""Checks on the source text itself: comments cite files that exist, and no module-level
constant of the package is left defined but unused."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_c_sources_cite_only_files_that_exist():
    # comments name files readers will look for; <op> stands for any kernel's name
    cited = set()
    for path in sorted((ROOT / "csrc").iterdir()):
        cited.update(re.findall(r"\b(?:csrc|tools|tests|fastfit|shared|benchmarks)/[\w<>/.-]*\w",
                                path.read_text()))
    assert "tools/build_cffi.py" in cited
    missing = [c for c in sorted(cited) if not list(ROOT.glob(c.replace("<op>", "*")))]
    assert missing == []


def _module_constants(tree):
    """Names of the module-level UPPER_CASE assignments of a parsed module."""
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name) and re.fullmatch(r"_?[A-Z][A-Z0-9_]*", name.id):
                        yield name.id


def test_no_dead_module_constants():
    # a constant nothing reads (not its own module, not another) is a copy that drifts
    texts = {p: p.read_text() for p in sorted((ROOT / "fastfit").rglob("*.py"))}
    assert len(texts) > 30
    dead = []
    for path, text in texts.items():
        for name in _module_constants(ast.parse(text)):
            uses = sum(len(re.findall(rf"\b{name}\b", t)) for t in texts.values())
            if uses <= 1:   # the definition only
                dead.append(f"{path.relative_to(ROOT)}: {name}")
    assert dead == []
