"""Long explanations of diagnostic codes, for `featc explain CODE` and docs/diagnostics.md.

One Markdown file per code under ``explanations/``, shipped as package data so that an
installed wheel can explain itself. Each file has a title `# CODE: name` and the sections
"What it does", "Why it matters", "Example" and "Use instead"; the examples are compiled by
tests/test_explanations.py, so they cannot drift from the compiler.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from .codes import CODES

SECTIONS = ("What it does", "Why it matters", "Example", "Use instead")

# Definitions every example may use without repeating them; prepended when the tests compile
# the examples, and printed with each explanation.
PRELUDE = """\
entity user {
  key user_id: int
}

source events {
  table: events
  timestamp: at
  columns {
    user_id: int
    at: timestamp
    amount: double
    kind: string
  }
}
"""

_HEADER = f"""\
One entry per code, in code order; `featc explain CODE` prints the same text. Each entry says
what the check finds, why it matters, an example that triggers it and a version that compiles
cleanly. To stay short, the examples assume these definitions:

```feat
{PRELUDE}```
"""


def load_explanation(code: str) -> str:
    """The Markdown explanation of ``code`` (any case); KeyError for a code featc does not have."""
    key = code.upper()
    if key not in CODES:
        raise KeyError(code)
    return files(__package__).joinpath("explanations", f"{key}.md").read_text(encoding="utf-8")


def all_markdown() -> str:
    """Every explanation under one header, headings demoted to nest under a `## ` docs section."""
    parts = [_HEADER] + [_demote(load_explanation(code)) for code in CODES]
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


def _demote(markdown: str) -> str:
    """`# X` -> `### X`, so each explanation sits under the docs page's own headings.

    Lines inside code fences are left alone: `#` starts a comment in featc.
    """
    out, fenced = [], False
    for line in markdown.splitlines(keepends=True):
        fenced ^= line.startswith("```")
        out.append(re.sub(r"^(#+) ", r"##\1 ", line) if not fenced and line.startswith("#") else line)
    return "".join(out)


def prelude_note() -> str:
    """What `featc explain CODE` prints after the explanation, so the examples stand alone."""
    return "The examples assume these definitions:\n\n```feat\n" + PRELUDE + "```\n"


START, END = "<!-- explanations:start -->", "<!-- explanations:end -->"


def update_docs(path: Path) -> bool:
    """Rewrites the text between the markers in ``path`` with all_markdown(); True if it changed."""
    page = path.read_text(encoding="utf-8")
    head, _, rest = page.partition(START)
    _, _, tail = rest.partition(END)
    updated = f"{head}{START}\n{all_markdown()}\n{END}{tail}"
    if updated != page:
        path.write_text(updated, encoding="utf-8")
    return updated != page


if __name__ == "__main__":  # python -m featc.compiler.explain docs/diagnostics.md
    import sys

    for arg in sys.argv[1:]:
        print(f"{arg}: {'updated' if update_docs(Path(arg)) else 'up to date'}")
