"""The house keeps its rules (issue 16): scripts/house passes on this checkout, and fails on a
copy of it given one planted cycle, upward import, long function or crowded folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOUSE = ROOT / "scripts" / "house"


def house(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HOUSE), str(root)], capture_output=True, text=True,
                          timeout=120)


def test_the_checkout_keeps_the_rules():
    run = house(ROOT)
    assert run.returncode == 0, run.stdout
    assert "import cycles: 0  imports pointing up: 0" in run.stdout


LONG = "def long():\n" + "    x = 1\n" * 60  # 61 lines


@pytest.mark.parametrize("plant, says", [
    ({"memory/ring_a.py": "from patchlore.memory import ring_b\n",
      "memory/ring_b.py": "from patchlore.memory import ring_a\n"}, "cycle:"),
    ({"memory/upward.py": "def f():\n    from patchlore.cli import app\n"}, "up: "),
    ({"sandbox/long.py": LONG}, "over 60 lines"),
    ({f"memory/extra_{i}.py": "" for i in range(3)}, "over 12"),
])
def test_a_planted_breach_fails(tmp_path, plant, says):
    shutil.copytree(ROOT / "patchlore", tmp_path / "patchlore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in plant.items():
        (tmp_path / "patchlore" / rel).write_text(text)
    run = house(tmp_path)
    assert run.returncode == 1 and says in run.stdout, run.stdout


def test_cli_may_hold_long_commands(tmp_path):
    shutil.copytree(ROOT / "patchlore", tmp_path / "patchlore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "patchlore" / "cli" / "long.py").write_text(LONG)
    assert house(tmp_path).returncode == 0
