"""Checks on the source text itself: comments cite files that exist, no module-level
constant of the package is left defined but unused, and no module imports another's
private names."""

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



def _definitions(c_file):
    """Names of the ff_* functions a .c file defines, directly or through the .inc bodies
    it instantiates for both dtypes (FF_FN(ff_x) and ff_x_##S stand for ff_x_f32/_f64)."""
    text = c_file.read_text()
    for body in re.findall(r'#define FF_BODY "([\w.]+)"', text):
        text += (c_file.parent / body).read_text()
    names = set(re.findall(r"^(?:int|int64_t|double|void|const char \*)\s*\*?(ff_\w+)\s*\(", text,
                           re.M))
    for base in re.findall(r"FF_FN\((ff_\w+)\)\s*\(", text) + re.findall(r"\b(ff_\w+)_##S\(",
                                                                           text):
        names.update((f"{base}_f32", f"{base}_f64"))
    # bodies instantiated per index width too: FF_FNI(ff_x) is ff_x_<FF_IXN>_<dtype>
    for base in re.findall(r"FF_FNI\((ff_\w+)\)\s*\(", text):
        for ixn in re.findall(r"#define FF_IXN (\w+)", text):
            names.update((f"{base}_{ixn}_f32", f"{base}_{ixn}_f64"))
    return names


def test_each_header_section_names_the_files_that_define_its_functions():
    # a reader looking up a kernel opens the file its section names: <op> is no file name
    # (ff_adam_update lives in optim.c, ff_softmax_forward in activation.c)
    header = (ROOT / "csrc" / "fastfit.h").read_text()
    cdef = header.split("/* FF_CDEF_BEGIN */")[1].split("/* FF_CDEF_END */")[0]
    sections = re.split(r"^/\* ---- ", cdef, flags=re.M)[1:]
    unplaced, checked = [], 0
    for section in sections:
        title = section.splitlines()[0]
        files = re.findall(r"csrc/\w+\.c\b", title)
        defined = set().union(*(_definitions(ROOT / f) for f in files))
        for name in re.findall(r"^(?:int|int64_t|double|void|const char \*)\s*\*?(ff_\w+)\s*\(",
                               section, re.M):
            checked += 1
            if name not in defined:
                unplaced.append(f"{name} (section {title[:40]!r} names {files})")
    assert checked > 80 and unplaced == []

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


def test_no_module_imports_another_modules_private_names():
    # a name starting with "_" is its module's own business: another module that needs it
    # gets a public name. Exempt: submodules themselves (fastfit.ops._gemm), __all__, and
    # the CUDA package's numba kernels, named _k_* and shared by its modules by convention
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts)
               for p in (ROOT / "fastfit").rglob("*.py")}
    modules |= {m.removesuffix(".__init__") for m in modules}
    found = []
    for path in (ROOT / "fastfit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fastfit")):
                continue
            for alias in node.names:
                name = alias.name
                if (name.startswith("_") and name != "__all__" and not name.startswith("_k_")
                        and f"{node.module}.{name}" not in modules):
                    found.append(f"{path.relative_to(ROOT)}: {node.module}.{name}")
    assert found == []
