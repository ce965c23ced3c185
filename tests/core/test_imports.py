"""core/ is the article in NumPy: it imports only numpy, a few standard-library helpers and
itself; numba only in core/kernels.py, the optional fast-kernel module, which alone also
writes its GEMM tile kernels in LLVM IR (llvmlite), finds NumPy's BLAS and reads its thread
count and thread timeout (pathlib, threadpoolctl, ctypes); core/workspace.py alone maps its
large buffers itself (mmap)."""

import ast
from pathlib import Path

import lstmkit.core

CORE = Path(lstmkit.core.__file__).parent
ALLOWED = {"numpy", "dataclasses", "typing", "os", "math", "functools",
           "threading", "sys", "itertools", "lstmkit"}
FAST_KERNELS = {"numba", "threadpoolctl", "pathlib", "llvmlite", "ctypes"}  # core/kernels.py only
WORKSPACE = {"mmap"}  # core/workspace.py only


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module


def test_core_imports_only_numpy_and_itself():
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in FAST_KERNELS:
                assert path.name == "kernels.py", f"{path.name} imports {module}"
                continue
            if top in WORKSPACE:
                assert path.name == "workspace.py", f"{path.name} imports {module}"
                continue
            assert top in ALLOWED, f"{path.name} imports {module}"
            if top == "lstmkit":
                assert module.startswith("lstmkit.core"), f"{path.name} imports {module}"


def test_numba_is_imported_by_core_kernels_alone_in_the_whole_package():
    package = CORE.parent
    files = sorted(package.rglob("*.py"))
    assert CORE / "kernels.py" in files and len(files) >= 30
    importers = {path.relative_to(package).as_posix() for path in files
                 if any(module.split(".")[0] in ("numba", "llvmlite")
                        for module in imported_modules(path))}
    assert importers == {"core/kernels.py"}


def test_importing_lstmkit_does_not_import_numba_or_torch():
    import subprocess
    import sys

    code = "import sys, lstmkit; print('numba' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
