"""`featc fmt`: the canonical layout (compiler/format.py) and the command (featc/commands/fmt.py).

The property tests draw random valid projects from the property-test generators
(tests/strategies.py): formatting is idempotent and changes neither the IR nor a hash, and a
project with random blanks, spaces and comments added formats to the same text as the original.
``FEATC_FMT_EXAMPLES`` raises their example count (CI default: 25 each, about 15 s in all).
"""

from __future__ import annotations

import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featc
from featc.cli import main
from featc.compiler import format as fmt
from featc.compiler.format import FormatError, format_text

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode: tests/ is no package
import strategies

ROOT = Path(__file__).resolve().parent.parent
CANONICAL = [ROOT / "examples", ROOT / "tests" / "cases" / "valid"]
EXAMPLES = int(os.environ.get("FEATC_FMT_EXAMPLES", "25"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- layout

# name: (input, its canonical layout). Each output is also checked to be canonical itself.
LAYOUTS = {
    "indentation, headers and properties": (
        "entity   e{\n      key   id :string\n}\nsource s {\ntable:raw.t\n    columns {   id:  int\n at: timestamp }\n}\n",
        "entity e {\n  key id: string\n}\n\nsource s {\n  table: raw.t\n  columns {\n    id: int\n    at: timestamp\n  }\n}\n",
    ),
    "blocks on one line are split": (
        "entity e { key id: string } request r { x: int }",
        "entity e {\n  key id: string\n}\n\nrequest r {\n  x: int\n}\n",
    ),
    "blank lines": (
        "\n\n\nentity e {\n\n\n  key a: int\n\n\n\n  key b: int\n\n}\nentity f {\n  key a: int\n}\n\n\n\n",
        "entity e {\n  key a: int\n\n  key b: int\n}\n\nentity f {\n  key a: int\n}\n",
    ),
    "own-line and trailing comments": (
        "# file\nentity e {   # the entity\n# the key\n      key id: int    -- trailing\n        # last\n}   # end\n# after\n",
        "# file\nentity e {  # the entity\n  # the key\n  key id: int  -- trailing\n  # last\n}  # end\n\n# after\n",
    ),
    "comment text kept as written": (
        "entity e {\n  #   spaced    out   \n  key id: int  --no space\n}\n",
        "entity e {\n  #   spaced    out\n  key id: int  --no space\n}\n",
    ),
    "doc comments stay on the line below": (
        "entity e {\n  key id: int\n}\n#: the block\n#: line 2\nentity f {\n    #: the key\n  key id: int\n}\n",
        "entity e {\n  key id: int\n}\n\n#: the block\n#: line 2\nentity f {\n  #: the key\n  key id: int\n}\n",
    ),
    # Removing it would make the comment the next line's description: a change of meaning, not of layout.
    "a blank line below a doc comment is kept": (
        "#: not attached\n\n\nentity e {\n  key id: int\n}\n",
        "#: not attached\n\nentity e {\n  key id: int\n}\n",
    ),
    "definitions align per run": (
        "features g {\n  entity: e\n  features {\n    a = count(*)\n    #: doc\n    longer=sum(x) over 1d\n"
        "    -- note\n    b   =  max(x)\n\n    c = min(x)\n    dd = min(y)\n  }\n}\n",
        "features g {\n  entity: e\n  features {\n    a      = count(*)\n    #: doc\n    longer = sum(x) over 1d\n"
        "    -- note\n    b      = max(x)\n\n    c  = min(x)\n    dd = min(y)\n  }\n}\n",
    ),
    "expressions keep their inner spacing and keywords": (
        "features g {\n  features {\n    n   =   count(*)   filter (where  x >  1)   over    1h  \n  }\n}\n",
        "features g {\n  features {\n    n = count(*)   filter (where  x >  1)   over    1h\n  }\n}\n",
    ),
    "continuation lines move with their first line": (
        "features g {\n  features {\n        s = sum(\n            CASE WHEN x > 1\n              THEN 1 ELSE 2 END\n"
        "        ) over 1d   # why\n  t = max(\n\tx)\n  }\n}\n",
        "features g {\n  features {\n    s = sum(\n        CASE WHEN x > 1\n          THEN 1 ELSE 2 END\n"
        "    ) over 1d  # why\n    t = max(\n    x)\n  }\n}\n",
    ),
    "strings holding comment marks and braces": (
        "features g {\n  filter:    a = '# not -- a { comment }' AND b = 'it''s'\n}\n",
        "features g {\n  filter: a = '# not -- a { comment }' AND b = 'it''s'\n}\n",
    ),
    "a string across lines keeps its spaces": (
        "features g {\n        filter: a = 'one   \n     two'    \n}\n",
        "features g {\n  filter: a = 'one   \n     two'\n}\n",
    ),
    "CRLF": ("entity e {\r\n    key id: int\r\n}\r\n", "entity e {\r\n  key id: int\r\n}\r\n"),
    "mixed endings take the first line's (CRLF)": (
        "entity e {\r\n    key id: int\n}\n",
        "entity e {\r\n  key id: int\r\n}\r\n",
    ),
    "mixed endings take the first line's (LF)": ("entity e {\n key id: int\r\n}\r\n", "entity e {\n  key id: int\n}\n"),
    "a byte-order mark is kept": ("\ufeffentity e {\n key id: int\n}", "\ufeffentity e {\n  key id: int\n}\n"),
    "no newline at the end": ("entity e {\n  key id: int\n}", "entity e {\n  key id: int\n}\n"),
    "blank lines at the end": ("entity e {\n  key id: int\n}\n\n\n  \n", "entity e {\n  key id: int\n}\n"),
    "an empty file": ("", ""),
    "a blank file": (" \n\n", ""),
    "only a comment": ("# only a comment   ", "# only a comment\n"),
    "owner and tags are ordinary properties": (
        "features g {\n  owner:   fraud-team\n  tags:[a,  b]\n  entity: e\n}\n",
        "features g {\n  owner: fraud-team\n  tags: [a,  b]\n  entity: e\n}\n",
    ),
}


@pytest.mark.parametrize(("before", "after"), LAYOUTS.values(), ids=LAYOUTS.keys())
def test_layout(before: str, after: str) -> None:
    assert format_text(before) == after
    assert format_text(after) == after


def test_text_that_cannot_be_formatted_is_refused() -> None:
    with pytest.raises(FormatError):
        format_text("features g {\n  filter: a = 'never closed\n}\n")


def test_the_safety_net_refuses_lost_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "render", lambda records: [])
    with pytest.raises(FormatError, match="more than layout"):
        format_text("entity e {\n  key id: int\n}\n")


@pytest.mark.parametrize("path", sorted(p for d in CANONICAL for p in d.rglob("*.feat")), ids=lambda p: p.name)
def test_examples_are_canonical(path: Path) -> None:
    text = path.read_bytes().decode()
    assert format_text(text) == text


# ---------------------------------------------------------------- the command


def run(*args: Any) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fmt", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


UGLY = "entity e {\n      key id:int\n}\n"
PRETTY = "entity e {\n  key id: int\n}\n"


def test_check_prints_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.feat").write_text(UGLY)
    (tmp_path / "b.feat").write_text(PRETTY)
    code, out, err = run("--check", tmp_path)
    assert code == 1
    assert f"--- {tmp_path / 'a.feat'} (original)\n+++ {tmp_path / 'a.feat'} (formatted)\n" in out
    assert "-      key id:int\n+  key id: int\n" in out and "b.feat" not in out
    assert err == "featc: 1 file would be reformatted, 1 file already formatted\n"
    assert (tmp_path / "a.feat").read_text() == UGLY
    (tmp_path / "a.feat").write_text(PRETTY)
    assert run("--check", tmp_path) == (0, "", "featc: 2 files already formatted\n")


def test_rewrites_changed_files_only(tmp_path: Path) -> None:
    ugly, pretty = tmp_path / "sub" / "a.feat", tmp_path / "b.feat"
    ugly.parent.mkdir()
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    ugly.chmod(0o640)
    before = pretty.stat()
    assert run(tmp_path) == (0, "", "featc: formatted 1 file (1 unchanged)\n")
    assert ugly.read_text() == PRETTY and ugly.stat().st_mode & 0o777 == 0o640
    after = pretty.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert run(tmp_path) == (0, "", "featc: formatted 0 files (2 unchanged)\n")
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary file left


def test_crlf_is_kept_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "a.feat"
    path.write_bytes(UGLY.replace("\n", "\r\n").encode())
    assert run(path)[0] == 0
    assert path.read_bytes() == PRETTY.replace("\n", "\r\n").encode()


def test_refuses_a_file_that_does_not_parse(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.feat", tmp_path / "good.feat"
    bad.write_bytes(b"entity e {\n  key id int\n      }\n")
    good.write_text(UGLY)
    code, _, err = run(tmp_path)
    assert code == 1
    assert bad.read_bytes() == b"entity e {\n  key id int\n      }\n"
    assert f"{bad}:2:10: error[E001]: expected `:` and a type, found `int`" in err
    assert "  key id int\n" in err and "^" in err and err.endswith("featc: 1 error\n")
    assert good.read_text() == PRETTY  # the others are formatted all the same
    assert run("--check", bad)[0] == 1


def test_a_formatter_bug_leaves_the_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.feat"
    path.write_text(UGLY)
    monkeypatch.setattr(fmt, "render", lambda records: ["entity e {", "}"])
    code, _, err = run(path)
    assert code == 2 and f"internal error: FormatError: {path}: formatting would change more than layout" in err
    assert path.read_text() == UGLY


def test_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "x.feat").write_text(UGLY)
    (tmp_path / "a.feat").write_text(UGLY)
    (tmp_path / "notes.txt").write_text(UGLY)
    monkeypatch.chdir(tmp_path)
    assert run() == (0, "", "featc: formatted 1 file (0 unchanged)\n")
    assert (tmp_path / ".venv" / "lib" / "x.feat").read_text() == UGLY and (tmp_path / "notes.txt").read_text() == UGLY
    code, _, err = run("a.feat", "missing.feat")
    assert code == 1 and "'missing.feat' does not exist" in err


def test_examples_pass_the_check() -> None:
    assert run("--check", *CANONICAL)[0] == 0


# ---------------------------------------------------------------- properties


def feature_hashes(project: Any) -> dict[str, Any]:
    """Every feature's hashes (data, metadata, parents, fingerprint), by output column."""
    from featc.compiler.hashing import fingerprints

    return dict(fingerprints(project).features)


@PROPERTY
@given(strategies.examples())
def test_formatting_keeps_the_meaning(ex: strategies.Example) -> None:
    formatted = format_text(ex.text)
    assert format_text(formatted) == formatted
    before, after = featc.compile_text(ex.text), featc.compile_text(formatted)
    assert after.model_dump() == before.model_dump()
    assert feature_hashes(after) == feature_hashes(before)


STRING = re.compile(r"'(?:[^']|'')*'")
NOISE = re.compile(r"[ \t]*(?:#|--) noise$")


def logical_lines(lines: list[str]) -> list[list[str]]:
    """Lines grouped as the parser reads them: an expression's continuation lines with its first line."""
    groups: list[list[str]] = []
    depth = 0
    for line in lines:
        if depth == 0:
            groups.append([])
        groups[-1].append(line)
        code = re.split(r"#|--", STRING.sub("''", line))[0]
        depth += code.count("(") - code.count(")")
    return groups


def spaces(rng: random.Random) -> str:
    return "".join(rng.choice(" \t") for _ in range(rng.randint(0, 3)))


def respaced(rng: random.Random, line: str) -> str:
    """Other spacing around a header's words, or an item's `:` or `=`."""
    sp, sp0 = rng.choice((" ", "  ", "\t")), rng.choice(("", " ", "\t "))
    header = re.match(r"(\w+) (\w+) \{", line)
    if header:
        return f"{header[1]}{sp}{header[2]}{sp0}{{{line[header.end() :]}"
    return re.sub(r"^(\w+(?: \w+)?) ?([:=]) ?", lambda m: f"{m[1]}{sp0}{m[2]}{sp}", line, count=1)


def perturbed(rng: random.Random, canonical: str) -> str:
    """``canonical`` with blanks, spaces and noise comments added where the layout rules remove or keep them.

    Blank lines go only where canonical text has one, or where the layout removes them (after
    `{`, before `}`, at either end); noise comments only where removing them again gives the
    canonical text back.
    """
    groups = logical_lines(canonical.splitlines())
    out: list[str] = []
    for i, group in enumerate(groups):
        prev, closing = groups[i - 1][-1] if i else "", group[0].strip() == "}"
        allowed = i == 0 or prev == "" or prev.endswith("{") or closing
        blanks = [spaces(rng) for _ in range(rng.randint(0, 2))] if allowed else []
        noise = [spaces(rng) + rng.choice(("# noise", "-- noise"))] if group[0] and rng.random() < 0.3 else []
        out += [*noise, *blanks] if closing else [*blanks, *noise]  # no blank line before a `}`
        if len(group) == 1 and group[0]:  # any indentation, other spacing inside
            lines = [spaces(rng) + respaced(rng, group[0].lstrip(" "))]
        else:  # an expression across lines: all its lines shifted alike
            prefix = spaces(rng)
            lines = [prefix + line if line else spaces(rng) for line in group]
        lines = [line + spaces(rng) for line in lines]
        if lines[-1].strip() and rng.random() < 0.3:
            lines[-1] += rng.choice((" # noise", "-- noise"))
        out += lines
    return "\n".join(out) + "\n" * rng.randint(0, 3)


def without_noise(text: str) -> str:
    lines = [NOISE.sub("", line) for line in text.split("\n") if line.strip() not in ("# noise", "-- noise")]
    return "\n".join(lines)


@PROPERTY
@given(strategies.examples(), st.randoms(use_true_random=True))
def test_blanks_spaces_and_comments_do_not_change_the_layout(ex: strategies.Example, rng: random.Random) -> None:
    canonical = format_text(ex.text)
    noisy = perturbed(rng, canonical)
    formatted = format_text(noisy)
    assert format_text(formatted) == formatted
    assert without_noise(formatted) == canonical
