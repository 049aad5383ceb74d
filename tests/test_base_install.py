"""`make example` installs featc without extras: the embedded engine must run without pyarrow or pandas.

The test suite has every extra installed, so this blocks the extras' imports in a fresh
interpreter and runs the README's example commands there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "food_delivery"

BLOCKED = ("pyarrow", "pandas", "psycopg", "snowflake", "pyspark", "redis")

RUN = f"""
import sys

class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is an extra, not installed by `make example`")
        return None

sys.meta_path.insert(0, Blocked())
from featc.cli import main
main(sys.argv[1:])
"""


def featc_without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120)


def test_the_readme_example_runs_without_any_extra(tmp_path: Path) -> None:
    assert featc_without_extras("check", str(EXAMPLE)).returncode == 0
    out = tmp_path / "training.csv"
    done = featc_without_extras(
        "training-data", str(EXAMPLE), "--spine", str(EXAMPLE / "data" / "spine.csv"), "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text().count("\n") > 1
    compiled = featc_without_extras("compile", str(EXAMPLE), "--out", str(tmp_path / "compiled"))
    assert compiled.returncode == 0, compiled.stderr
    assert (tmp_path / "compiled" / "manifest.json").is_file()
