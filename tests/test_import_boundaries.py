"""Imports flow one way (DEVELOPERS.md): walk every module's imports with ast and fail on a wrong arrow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sim_data", "envs", "agents", "policies", "service", "dashboard")
ALLOWED = {
    "sim_data": set(),
    "envs": {"sim_data"},
    "policies": {"sim_data"},
    "agents": {"envs", "policies", "sim_data"},
    "service": {"policies", "sim_data"},
    "dashboard": {"policies", "sim_data"},
}


def imported_packages(path: Path, root: Path = ROOT) -> set[tuple[str, int]]:
    """Our top-level packages imported by a file (absolute and relative imports), with line numbers."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = path.relative_to(root).parts[0]
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add((alias.name.split(".")[0], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports stay inside the file's own package
                found.add((own, node.lineno))
            elif node.module:
                found.add((node.module.split(".")[0], node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add((node.args[0].value.split(".")[0], node.lineno))
    return {(name, line) for name, line in found if name in PACKAGES or name == "retailrl"}


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for name, line in sorted(imported_packages(path, root)):
                if name == package:
                    continue
                if name not in ALLOWED[package]:
                    bad.append(f"{path.relative_to(root)}:{line} imports {name} ({package} may import only "
                               f"{sorted(ALLOWED[package]) or 'nothing of ours'})")
    return bad


def test_import_directions_hold():
    assert violations() == []


@pytest.mark.parametrize(
    ("package", "source", "allowed"),
    [("envs", "from policies.policy import Policy\n", False), ("policies", "import envs\n", False),
     ("sim_data", "from agents import x\n", False), ("service", "from dashboard import app\n", False),
     ("agents", "from envs import pricing\nfrom policies import policy\n", True),
     ("sim_data", "from retailrl.cli import main\n", False)],
)
def test_checker_catches_a_wrong_arrow(tmp_path, package, source, allowed):
    for p in PACKAGES:
        (tmp_path / p).mkdir()
    (tmp_path / package / "mod.py").write_text(source)
    assert (violations(tmp_path) == []) == allowed
