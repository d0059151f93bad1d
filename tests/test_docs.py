"""The product's docs stand alone: they never point outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_do_not_point_outside_the_repo(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\.\./shared|/work/|/root/|/tmp/[a-z]", text), f"{path.name} points outside the repository"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#:\s]+)\)", path.read_text()):
        assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
