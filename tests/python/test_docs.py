"""The documentation keeps its links and its claims honest.

README.md and docs/*.md are split into pages that link each other; every claim names the
test behind it. These tests fail when a relative link or an anchor stops resolving, when
a test file a page names does not exist, or when a test function a page names is not
defined anywhere under tests/.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TEST_PATH = re.compile(r"(?<![\w/.])tests/[A-Za-z0-9_./-]*[A-Za-z0-9_/]")
_TEST_FILE = re.compile(r"(?<![\w/.])(test_\w+\.(?:py|c))\b")
_TEST_TOKEN = re.compile(r"(?<![\w/])(test_\w+)(\.\w+)?(\*?)")
_QUALIFIED = re.compile(r"::(test_\w+\*?)")


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _prose_lines(page: Path) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, with their 1-based numbers."""
    out: list[tuple[int, str]] = []
    fence = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line.lstrip()):
            fence = not fence
            continue
        if not fence:
            out.append((number, line))
    return out


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, line in _prose_lines(page):
        m = _HEADING.match(line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return frozenset(result)


def links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every Markdown link outside code, joined across wrapped lines."""
    lines = _prose_lines(page)
    found: list[tuple[int, str]] = []
    # Join consecutive prose lines so a link whose text wraps is still seen once.
    text = ""
    starts: list[tuple[int, int]] = []
    for number, line in lines:
        starts.append((len(text), number))
        text += _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line) + "\n"
    for m in _LINK.finditer(text):
        number = max(n for offset, n in starts if offset <= m.start())
        found.append((number, m.group(1)))
    return found


def _relative_links() -> list[tuple[Path, int, str]]:
    cases = []
    for page in PAGES:
        for number, target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            cases.append((page, number, target))
    return cases


def test_the_docs_pages_exist_and_the_readme_links_every_one() -> None:
    readme_targets = {t.split("#")[0] for _, t in links(ROOT / "README.md")}
    index_targets = {t.split("#")[0] for _, t in links(ROOT / "docs" / "index.md")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme_targets, f"README.md does not link docs/{page.name}"
        if page.name != "index.md":
            assert page.name in index_targets, f"docs/index.md does not link {page.name}"


@pytest.mark.parametrize(
    ("page", "number", "target"),
    _relative_links(),
    ids=[f"{_rel(p)}:{n}:{t}" for p, n, t in _relative_links()],
)
def test_every_relative_link_and_anchor_resolves(page: Path, number: int, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    dest = (page.parent / path_part).resolve() if path_part else page
    where = f"{_rel(page)}:{number}: link {target!r}"
    assert dest.exists(), f"{where}: {path_part} does not exist"
    if anchor:
        assert dest.suffix == ".md", f"{where}: an anchor into a non-Markdown file"
        assert anchor in anchors(dest), (
            f"{where}: no heading in {_rel(dest)} has the anchor #{anchor}; "
            f"its anchors are {sorted(anchors(dest))}"
        )


def test_every_test_path_the_docs_name_exists() -> None:
    missing = []
    test_files = {p.name for p in (ROOT / "tests").rglob("test_*") if p.is_file()}
    for page in PAGES:
        for number, line in _prose_lines(page):
            for path in _TEST_PATH.findall(line):
                if "*" not in path and not (ROOT / path).exists():
                    missing.append(f"{_rel(page)}:{number}: {path}")
            for name in _TEST_FILE.findall(line):
                if name not in test_files:
                    missing.append(f"{_rel(page)}:{number}: {name}")
    assert not missing, "test files named in the docs but absent:\n" + "\n".join(missing)


@cache
def _defined_test_names() -> frozenset[str]:
    """Test functions under tests/ (Python defs, C functions) and test file stems (ctest)."""
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        names.update(re.findall(r"^\s*(?:async\s+)?def\s+(test_\w+)", path.read_text(), re.M))
    for path in (ROOT / "tests").rglob("*.c"):
        names.update(re.findall(r"\b(test_\w+)\s*\(", path.read_text(errors="replace")))
    names.update(p.stem for p in (ROOT / "tests").rglob("test_*") if p.is_file())
    return frozenset(names)


def _is_defined(name: str, defined: frozenset[str]) -> bool:
    if name.endswith("*"):  # test_key_colliding_* names a family
        return any(d.startswith(name[:-1]) for d in defined)
    return name in defined


def claimed_test_names(page: Path) -> list[tuple[int, str]]:
    """(line, name) of each test a claims table names: the cells of every column whose
    header says "test", plus every `file.py::test_name` anywhere on the page."""
    found: list[tuple[int, str]] = []
    columns: list[int] = []
    previous_was_table = False
    for number, line in _prose_lines(page):
        is_table = line.lstrip().startswith("|")
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if is_table else []
        if is_table and not previous_was_table:
            columns = [i for i, c in enumerate(cells) if "test" in c.lower()]
        elif is_table and not set(line.strip()) <= set("|-: "):
            for i in columns:
                if i < len(cells):
                    for m in _TEST_TOKEN.finditer(cells[i]):
                        if m.group(2) not in (".py", ".c"):
                            found.append((number, m.group(1) + m.group(3)))
        previous_was_table = is_table
        found.extend((number, name) for name in _QUALIFIED.findall(line))
    return found


def test_every_test_function_the_docs_claims_tables_name_is_defined() -> None:
    defined = _defined_test_names()
    missing = [
        f"{_rel(page)}:{number}: {name}"
        for page in PAGES
        for number, name in claimed_test_names(page)
        if not _is_defined(name, defined)
    ]
    assert not missing, "tests named in the docs but defined nowhere under tests/:\n" + "\n".join(
        missing
    )


def test_the_link_checker_catches_a_broken_anchor_and_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "# Claims -> tests\n\n## Cost (`python bench/x.py`)\n\n"
        "[ok](#claims---tests) [ok2](#cost-python-benchxpy) [bad](#claims-tests)\n"
        "[gone](nothing.md) `[not a link](code.md)`\n\n```\n[in code](fence.md)\n```\n"
    )
    assert anchors(page) == {"claims---tests", "cost-python-benchxpy"}
    targets = [t for _, t in links(page)]
    assert targets == ["#claims---tests", "#cost-python-benchxpy", "#claims-tests", "nothing.md"]
    assert "claims-tests" not in anchors(page)
    assert not (tmp_path / "nothing.md").exists()


def test_the_claims_check_reads_test_columns_only(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "| module | reason |\n|---|---|\n| `test_code` | CPython's own |\n\n"
        "| claim | test |\n|---|---|\n"
        "| x | `test_no_such_test_anywhere`, `tests/python/test_docs.py`, `test_docs.py::test_a*` |\n"
    )
    names = [name for _, name in claimed_test_names(page)]
    assert names == ["test_no_such_test_anywhere", "test_a*", "test_a*"]
    defined = _defined_test_names()
    assert not _is_defined("test_no_such_test_anywhere", defined)
    assert _is_defined("test_the_claims_check_*", defined)
    assert _is_defined("test_every_relative_link_and_anchor_resolves", defined)
