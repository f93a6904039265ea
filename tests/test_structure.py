"""The package's shape: dependencies run one way, each job has one home, no helper is written twice.

These read the source (and import modules in fresh interpreters), so a change that lets a layer
reach back up, or copies a block into a second module, fails here rather than in review.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "softloc_cli"


def modules_loaded_by(module: str) -> set[str]:
    """The softloc_cli modules that ``import module`` pulls in, seen from a fresh interpreter."""
    code = f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith('softloc_cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        ("softloc_cli.calibration", "softloc_cli.training"),  # calibration does not import the training loop
        ("softloc_cli.data", "softloc_cli.metrics"),  # dataset code does not import scoring
        ("softloc_cli.checkpoint", "softloc_cli.classmap"),  # loading a checkpoint does not parse class maps
        ("softloc_cli.inference", "softloc_cli.training"),
        ("softloc_cli.inference", "softloc_cli.calibration"),
    ],
)
def test_dependencies_run_one_way(module, must_not_load):
    assert must_not_load not in modules_loaded_by(module)


def test_the_command_line_starts_without_torch():
    code = "import sys, softloc_cli.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def _library_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def test_library_modules_import_their_own_package_at_the_top():
    """Imports of softloc_cli modules inside functions hide real dependencies (only the CLI keeps
    them lazy, so that ``softloc --help`` does not load torch)."""
    lazy = []
    for path in _library_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and inner.level > 0:
                        lazy.append(f"{path.relative_to(ROOT)}:{inner.lineno} in {node.name}()")
    assert lazy == [], "lazy imports of the package's own modules:\n" + "\n".join(lazy)


def test_every_exception_lives_in_errors_py():
    defined = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", "").endswith("Error") for base in node.bases
            ):
                defined.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert defined and all(entry.startswith("errors.py:") for entry in defined), defined


def _normalised_lines(path: Path) -> list[tuple[int, str]]:
    """Code lines with names, strings and numbers blanked out (blocks 'of the same shape')."""
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith(("#", "from ", "import ", '"""', "@")) or text in (")", "]", "}", "):"):
            continue
        text = re.sub(r"(\"[^\"]*\"|'[^']*')", "S", text)
        text = re.sub(r"\b\d+(\.\d+)?\b", "N", text)
        lines.append((number, text))
    return lines


def test_no_six_line_block_is_repeated_across_modules():
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = _normalised_lines(path)
        for i in range(len(lines) - 5):
            block = tuple(text for _, text in lines[i : i + 6])
            if sum(len(t) for t in block) < 120:  # six closing brackets or one-word lines are not a helper
                continue
            seen[block].append(f"{path.relative_to(ROOT)}:{lines[i][0]}")
    repeated = {block: where for block, where in seen.items() if len({w.split(':')[0] for w in where}) > 1}
    assert not repeated, "\n\n".join("\n".join(where) + "\n" + "\n".join(block) for block, where in repeated.items())


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "softloc_cli", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("softloc-cli ")


def test_the_top_level_holds_only_the_asked_for_layout():
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True)
    top = {line.split("/")[0] for line in tracked.stdout.splitlines()}
    allowed = {"softloc_cli", "recipes", "tests", "scripts", "pyproject.toml", "README.md", "MANIFEST.in",
               ".ci", ".gitignore", "LICENSE"}
    assert top <= allowed, sorted(top - allowed)


def test_python_3_10_can_read_recipes():
    """pyproject admits Python 3.10, which has no tomllib: tomli must then be a dependency."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r'requires-python\s*=\s*"([^"]+)"', text).group(1)
    if "3.10" in requires:
        assert re.search(r'"tomli[^"]*;\s*python_version\s*<\s*[\'"]3\.11[\'"]"', text), "tomli missing for 3.10"
    training = (PACKAGE / "training.py").read_text(encoding="utf-8")
    assert "import tomli as tomllib" in training or "3.10" not in requires
