"""The architecture's rules that import-linter cannot see: who may touch zarr's internals."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("belvedere", "dashboard", "pipelines")
ZARRIO = Path("pipelines/store/_zarrio.py")


def _zarr_imports(path: Path) -> list[str]:
    """Every zarr module a file imports (`import zarr.x`, `from zarr.x import y`)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == "zarr"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "zarr":
                names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _private(module: str) -> bool:
    parts = module.split(".")
    return "core" in parts or any(p.startswith("_") for p in parts[1:])


def test_only_the_store_private_module_imports_zarr_internals():
    offenders = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO)
            private = [m for m in _zarr_imports(path) if _private(m)]
            if private and rel != ZARRIO:
                offenders[str(rel)] = private
    assert offenders == {}, f"zarr internals outside {ZARRIO}: {offenders}"
    assert any(_private(m) for m in _zarr_imports(REPO / ZARRIO))  # the rule still has a subject

