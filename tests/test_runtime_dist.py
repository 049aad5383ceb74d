"""The slim runtime distribution (runtime/pyproject.toml), installed alone, serves a compiled build.

featc-runtime ships featc/runtime/ and no featc/__init__.py; the full featc distribution ships
everything else and depends on it (docs/runtime.md, "Installing the runtime alone"). The wheels
are built offline from a copy of the sources (setuptools builds in the source tree, which other
runs share); the runtime wheel with its `redis` extra goes alone into a fresh venv, where a probe
script reports what is importable and answers feature vectors of a build that the compiler in
this venv wrote.
"""

from __future__ import annotations

import csv
import email.parser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .services import redis_url

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "food_delivery"
HEAVY = ("sqlglot", "duckdb", "pydantic", "click", "featc.compiler")
OUTPUT_DIRS = ("build", "dist", "__pycache__")  # what builds and imports leave in a source tree

# Runs in the fresh venv (and, for reference, in this one): argv[1] is a JSON file with the
# build directory, the sources' CSV files and the questions; prints one JSON object.
PROBE = r'''
import csv, importlib.metadata, importlib.util, json, sys, sysconfig
from pathlib import Path

args = json.loads(Path(sys.argv[1]).read_text())
importable = [name for name in args["heavy"] if importlib.util.find_spec(name) is not None]

import featc, featc.runtime
from featc.runtime import Evaluator, load_module, open_store, parse
from featc.runtime.times import asof, from_us, to_us


def serve(build, sources, questions, stores):
    """The answers to the questions after ingesting every source file (the offline evaluator), the
    same questions served by open_store on each store URL after loading the boundaries they need
    (what `featc materialize --store` does), and the build hash."""
    features = load_module(Path(build) / "features.py")
    ev = Evaluator(features)
    for source, path in sources.items():
        with open(path, newline="", encoding="utf-8") as f:
            ev.ingest(source, csv.DictReader(f))
    answers = [ev.features(q["keys"], at=q["at"], request=q["request"]) for q in questions]
    served = {}
    for url in stores:
        with open_store(build, url, keep=len(questions)) as store:  # one boundary per question at most
            for g in features.SPEC.groups:
                if g.kind == "features" and g.refresh.mode == "batch":
                    rows = {}  # boundary -> the rows of the entities asked about there
                    for q in questions:
                        b = from_us(asof(to_us(parse(q["at"], "timestamp")), g.refresh.every_us, g.refresh.lag_us))
                        values = ev.features(q["keys"], b, request=q["request"], exact=True)
                        rows.setdefault(b, []).append({**q["keys"], **values})
                    for b, loaded in rows.items():
                        store.load(g.name, b, loaded)
            served[url.split(":")[0]] = [store.get(q["keys"], q["request"], at=q["at"]).values for q in questions]
    return {"build": features.SPEC.build, "answers": answers, "served": served}


served = serve(args["build"], args["sources"], args["questions"], args["stores"])
heavy = tuple(args["heavy"])
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
site = Path(sysconfig.get_paths()["purelib"])
print(json.dumps({
    "importable": importable,
    "loaded": loaded,
    "featc_file": getattr(featc, "__file__", None),
    "featc_init_installed": (site / "featc" / "__init__.py").exists(),
    "runtime_file": featc.runtime.__file__,
    "distributions": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "redis_client": importlib.util.find_spec("redis") is not None and importlib.util.find_spec("hiredis") is not None,
    **served,
}, default=str))
'''


def _ignore_outputs(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in OUTPUT_DIRS or n.endswith(".egg-info")}


def _copy_sources(dest: Path) -> Path:
    """What the two builds read: the project files, featc/ (symlinks kept) and what it links to."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    linked = {p.resolve().relative_to(ROOT).parts[0] for p in (ROOT / "featc").iterdir() if p.is_symlink()}
    for name in sorted({"featc", "runtime", *linked}):
        shutil.copytree(ROOT / name, dest / name, symlinks=True, ignore=_ignore_outputs)
    return dest


def _run(*cmd: str | Path, **kwargs: Any) -> str:
    """A command's stdout; its output in the failure message when it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, **kwargs)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both wheels, built offline with this venv's setuptools, keyed by distribution name."""
    tmp = tmp_path_factory.mktemp("wheels")
    src = _copy_sources(tmp / "src")
    out = tmp / "dist"
    offline = ("--no-deps", "--no-build-isolation", "--no-index")
    _run(sys.executable, "-m", "pip", "wheel", "-q", *offline, "-w", out, src / "runtime", src)
    return {"featc-runtime": next(out.glob("featc_runtime-*.whl")), "featc": next(out.glob("featc-*.whl"))}


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n for n in z.namelist() if ".dist-info/" not in n}


def _metadata(wheel: Path) -> Any:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_runtime_wheel_ships_featc_runtime_only(wheels: dict[str, Path]) -> None:
    sources = {
        p.relative_to(ROOT / "runtime").as_posix()
        for p in (ROOT / "runtime").rglob("*.py")
        if not set(p.relative_to(ROOT / "runtime").parts) & set(OUTPUT_DIRS)
    }
    # Every module of runtime/ is in the wheel (a new subpackage must be added to `packages`).
    assert _names(wheels["featc-runtime"]) == {f"featc/runtime/{n}" for n in sources | {"py.typed"}}
    meta = _metadata(wheels["featc-runtime"])
    requires = meta.get_all("Requires-Dist") or []
    assert requires and all("extra ==" in r for r in requires), requires  # no dependency outside an extra
    assert [r for r in requires if r.startswith("redis[hiredis]") and r.endswith('extra == "redis"')], requires


def test_featc_wheel_leaves_featc_runtime_to_the_runtime_wheel(wheels: dict[str, Path]) -> None:
    full, slim = _names(wheels["featc"]), _names(wheels["featc-runtime"])
    assert {"featc/__init__.py", "featc/cli.py", "featc/compiler/__init__.py", "featc/dialects/__init__.py"} <= full
    assert not [n for n in full if n.startswith("featc/runtime/")]
    assert "featc/__init__.py" not in slim
    assert not full & slim  # installed together, no file has two owners
    runtime_version = _metadata(wheels["featc-runtime"])["Version"]
    assert _metadata(wheels["featc"])["Version"] == runtime_version
    assert f"featc-runtime=={runtime_version}" in _metadata(wheels["featc"]).get_all("Requires-Dist")


@pytest.fixture(scope="module")
def slim_python(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding featc-runtime[redis] and nothing else of featc."""
    venv = tmp_path_factory.mktemp("slim") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # This venv's pip installs into the other interpreter; redis and hiredis come from the index
    # (or pip's cache), the runtime from its wheel only.
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", f"{wheels['featc-runtime']}[redis]")
    return python


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The food_delivery example compiled by the featc of this venv."""
    out = tmp_path_factory.mktemp("compiled") / "build"
    _run(Path(sys.executable).with_name("featc"), "compile", EXAMPLE, "--out", out)
    return out


def _probe(python: Path, compiled: Path, tmp: Path) -> dict[str, Any]:
    with (EXAMPLE / "data" / "spine.csv").open(newline="") as f:
        spine = list(csv.DictReader(f))[:5]
    args = {
        "heavy": HEAVY,
        "stores": ["memory://", redis_url(8)],
        "build": str(compiled),
        "sources": {s: str(EXAMPLE / "data" / f"{s}.csv") for s in ("orders", "prep_events")},
        "questions": [
            {
                "keys": {"restaurant_id": row["restaurant_id"]},
                "at": row["ts"],
                "request": {"basket_total": row["basket_total"]},
            }
            for row in spine
        ],
    }
    (tmp / "probe.py").write_text(PROBE)
    (tmp / "args.json").write_text(json.dumps(args))
    out = _run(python, "-I", tmp / "probe.py", tmp / "args.json", cwd=tmp)  # -I: no PYTHONPATH, no cwd
    result: dict[str, Any] = json.loads(out)
    return result


def test_runtime_alone_serves_a_compiled_build(slim_python: Path, compiled: Path, tmp_path: Path) -> None:
    slim = _probe(slim_python, compiled, tmp_path)
    assert slim["importable"] == [] and slim["loaded"] == []  # no compiler, sqlglot, duckdb, pydantic, click
    assert slim["featc_file"] is None and not slim["featc_init_installed"]  # featc is a namespace package
    assert Path(slim["runtime_file"]).is_relative_to(slim_python.parents[1])
    assert {"featc-runtime", "redis", "hiredis"} <= set(slim["distributions"])
    assert not {"featc", "sqlglot", "duckdb", "pydantic", "click"} & set(slim["distributions"])
    assert slim["redis_client"]
    assert slim["build"] == json.loads((compiled / "manifest.json").read_text())["build"]

    # The same answers as the runtime of this venv gives, and not trivially empty ones.
    here = _probe(Path(sys.executable), compiled, tmp_path)
    assert slim["answers"] == here["answers"]
    assert len(slim["answers"]) == 5
    assert any(a["restaurant_activity__lifetime_orders"] for a in slim["answers"])
    # open_store serves them, in memory and from Redis, as the offline evaluator computes them.
    assert slim["served"] == {"memory": slim["answers"], "redis": slim["answers"]}
