"""The repository explains itself: every document it points to is in it, at the heading named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [
    path
    for folder in ("probes", "alerts", "daemon", "simulator", "tests", "bench", "grafana")
    for path in sorted((ROOT / folder).rglob("*.py"))
    if path.name != Path(__file__).name  # this file names what must not be named
] + [ROOT / "config.toml", ROOT / "Makefile", *sorted((ROOT / "systemd").iterdir())]
LINK = re.compile(r"\]\(([^)\s]+)\)")
MENTION = re.compile(r"\b((?:docs/)?[a-z_]+\.md)\b(?:#([a-z0-9_-]+))?")


def anchors(document: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", document.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def broken(target: str, source: Path) -> str | None:
    path, _, anchor = target.partition("#")
    document = (source.parent / path).resolve() if path else source
    if not document.exists():
        return f"{source.relative_to(ROOT)} links to {target}, which is not in the repository"
    if anchor and document.suffix == ".md" and anchor not in anchors(document):
        return f"{source.relative_to(ROOT)} links to {target}: no such heading"
    return None


def test_every_link_between_documents_resolves() -> None:
    problems = [
        problem
        for document in DOCUMENTS
        for target in LINK.findall(document.read_text())
        if not re.match(r"[a-z]+:", target)  # http(s):, mailto:
        if (problem := broken(target, document))
    ]
    assert problems == []


def test_every_document_the_code_names_is_in_docs() -> None:
    problems = []
    for source in SOURCES:
        for name, anchor in MENTION.findall(source.read_text(errors="replace")):
            path = ROOT / name if (ROOT / name).exists() else ROOT / "docs" / name
            target = path.relative_to(ROOT).as_posix() + (f"#{anchor}" if anchor else "")
            if problem := broken(target, ROOT / "source"):
                problems.append(f"{source.relative_to(ROOT)}: {problem}")
    assert problems == []


def test_nothing_points_outside_the_repository() -> None:
    """design notes and research that are not in the repository cannot be cited from it."""
    outside = re.compile(r"design\.md|research/|research section|research \d")
    cited = [
        str(path.relative_to(ROOT))
        for path in [*DOCUMENTS, *SOURCES]
        if outside.search(path.read_text(errors="replace"))
    ]
    assert cited == []
