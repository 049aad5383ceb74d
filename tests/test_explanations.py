"""The long explanations behind `featc explain CODE`: complete, compiled, and in the docs.

Every example is compiled with the prelude in front of it: the "Example" must produce its code
and nothing else, the "Use instead" must compile with no diagnostic at all. So an explanation
cannot drift from what the compiler does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from featc.cli import main
from featc.compiler.codes import CODES
from featc.compiler.diagnostics import Diagnostic, render_all
from featc.compiler.dialect_support import unsupported
from featc.compiler.explain import END, PRELUDE, SECTIONS, START, all_markdown, load_explanation, update_docs
from featc.compiler.project import Config, compile_files
from featc.compiler.source import SourceFile

ROOT = Path(__file__).parent.parent
EXPLANATIONS = ROOT / "compiler" / "explanations"
DOCS = ROOT / "docs" / "diagnostics.md"


def sections(text: str) -> dict[str, str]:
    """`## Heading` -> body, for the top-level sections of one explanation."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def feat_block(body: str) -> str:
    """The one ```feat block of a section."""
    blocks = re.findall(r"^```feat\n(.*?)^```$", body, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"expected one ```feat block, found {len(blocks)}"
    return str(blocks[0])


def compile_example(code: str, example: str) -> tuple[list[Diagnostic], str]:
    """Compiles prelude + example (for the dialect a `# featc compile --dialect D` line names); returns
    the diagnostics and their rendering (for messages)."""
    src = SourceFile(f"{code}.feat", PRELUDE + "\n" + example)
    compiled = compile_files([src], Config(code.lower()))
    for dialect in re.findall(r"^# featc compile --dialect (\w+)$", example, flags=re.MULTILINE):
        compiled.diagnostics += unsupported(compiled.project, dialect)
    return compiled.diagnostics, render_all(compiled.diagnostics, compiled.files)


def test_every_code_has_an_explanation_and_nothing_else() -> None:
    assert {p.stem for p in EXPLANATIONS.glob("*.md")} == set(CODES)


@pytest.mark.parametrize("code", list(CODES))
def test_explanation_has_title_and_sections(code: str) -> None:
    text = load_explanation(code)
    assert text.splitlines()[0] == f"# {code}: {CODES[code].name}"
    assert list(sections(text)) == list(SECTIONS)
    assert all(body.strip() for body in sections(text).values())


@pytest.mark.parametrize("code", list(CODES))
def test_example_triggers_exactly_its_code(code: str) -> None:
    """Only this code: for an error, it is the only problem; for a warning, there is no error."""
    diags, rendered = compile_example(code, feat_block(sections(load_explanation(code))["Example"]))
    assert diags, f"{code}: the example compiles cleanly"
    assert {d.code for d in diags} == {code}, rendered
    assert all(d.span is not None for d in diags), rendered


@pytest.mark.parametrize("code", list(CODES))
def test_use_instead_compiles_cleanly(code: str) -> None:
    diags, rendered = compile_example(code, feat_block(sections(load_explanation(code))["Use instead"]))
    assert diags == [], rendered


def test_prelude_compiles_cleanly() -> None:
    assert compile_example("prelude", "")[0] == []


def test_docs_contain_all_markdown_verbatim() -> None:
    """Regenerate with the command in docs/diagnostics.md when this fails."""
    text = DOCS.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    between = text.split(START)[1].split(END)[0]
    assert between == "\n" + all_markdown() + "\n", "docs/diagnostics.md is stale: regenerate it"


def test_load_explanation_is_case_insensitive_and_rejects_unknown_codes() -> None:
    assert load_explanation("e303") == load_explanation("E303")
    with pytest.raises(KeyError):
        load_explanation("E999")


def test_cli_explain_prints_the_explanation() -> None:
    result = CliRunner().invoke(main, ["explain", "e303"])
    assert result.exit_code == 0, result.output
    assert load_explanation("E303") in result.output
    assert PRELUDE in result.output


def test_cli_explain_unknown_code_exits_1() -> None:
    result = CliRunner().invoke(main, ["explain", "E999"])
    assert result.exit_code == 1
    assert "unknown code" in result.output


def test_cli_explain_lists_codes_without_an_argument() -> None:
    result = CliRunner().invoke(main, ["explain"])
    assert result.exit_code == 0
    assert all(code in result.output for code in CODES)


def test_cli_explain_markdown_prints_all_markdown() -> None:
    result = CliRunner().invoke(main, ["explain", "--markdown"])
    assert result.exit_code == 0
    assert result.output == all_markdown() + "\n"


def test_update_docs_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{START}\nold\n{END}\ntail\n")
    assert update_docs(page)
    assert page.read_text() == f"# Title\n\n{START}\n{all_markdown()}\n{END}\ntail\n"
    assert not update_docs(page)
