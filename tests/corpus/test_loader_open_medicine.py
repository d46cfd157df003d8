"""open-medicine guideline loader: the real installed package, and a broken copy of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from corpus.loaders.open_medicine import (
    load_open_medicine,
    package_dir,
    package_version,
    strip_front_matter,
)


def _package_copy(tmp_path: Path) -> Path:
    source = package_dir()
    assert source is not None, "open-medicine must be installed for these tests"
    target = tmp_path / "guidelines"
    shutil.copytree(Path(str(source)), target)
    return target


def test_installed_package_loads_every_guideline() -> None:
    result = load_open_medicine()

    assert result.problems == []
    assert len(result.documents) >= 40
    assert len({d.id for d in result.documents}) == len(result.documents)
    for doc in result.documents:
        assert doc.id.startswith("openmed:")
        assert doc.source_type == "guideline"
        assert doc.title.strip()
        assert len(doc.text) > 200
        assert doc.license == "MIT (open-medicine)"
        assert doc.meta["package_version"] == package_version()
        assert doc.meta["files"]


def test_dois_become_urls() -> None:
    docs = load_open_medicine().documents

    with_doi = [d for d in docs if d.meta["doi"]]
    assert len(with_doi) >= 40
    for doc in docs:
        expected = f"https://doi.org/{doc.meta['doi']}" if doc.meta["doi"] else None
        assert doc.url == expected


def test_known_guideline_fields() -> None:
    docs = {d.id: d for d in load_open_medicine().documents}
    ckd = docs["openmed:kdigo_ckd_2024"]

    assert ckd.title.startswith("KDIGO 2024 Clinical Practice Guideline")
    assert ckd.organization == "KDIGO"
    assert ckd.year == 2024
    assert ckd.url == "https://doi.org/10.1016/j.kint.2023.10.018"
    assert ckd.meta["file"] == "content/kdigo_ckd_2024"
    assert ckd.meta["files"] == [
        "content/kdigo_ckd_2024/evaluation.md",
        "content/kdigo_ckd_2024/staging.md",
        "content/kdigo_ckd_2024/referral.md",
    ]
    # Sections are joined in registry order, each keeping its own heading.
    headings = [line for line in ckd.text.splitlines() if line.startswith("# ")]
    assert len(headings) == 3
    assert "GFR Categories" in ckd.text


def test_path_override_reports_missing_sections_and_unlisted_folders(tmp_path: Path) -> None:
    root = _package_copy(tmp_path)
    (root / "content" / "kdigo_ckd_2024" / "staging.md").unlink()
    (root / "content" / "local_extra_2025").mkdir()

    result = load_open_medicine(root)

    docs = {d.id: d for d in result.documents}
    assert "GFR Categories" not in docs["openmed:kdigo_ckd_2024"].text
    assert docs["openmed:kdigo_ckd_2024"].meta["package_version"] is None
    assert sorted(p.where for p in result.problems) == [
        f"{root}/content/kdigo_ckd_2024/staging.md",
        f"{root}/content/local_extra_2025",
    ]


def test_bad_registry_entries_are_problems(tmp_path: Path) -> None:
    root = _package_copy(tmp_path)
    registry = json.loads((root / "registry.json").read_text())
    registry[0] = {"id": registry[0]["id"]}  # no title, no sections
    registry.append(dict(registry[1]))  # a repeated id
    (root / "registry.json").write_text(json.dumps(registry))

    result = load_open_medicine(root)

    assert [(p.where, p.message) for p in result.problems] == [
        (f"{root}/registry.json:1", "field 'title': Field required"),
        (f"{root}/registry.json:{len(registry)}", f"duplicate id {registry[1]['id']!r}; skipped"),
    ]
    assert len(result.documents) == len(registry) - 2


def test_missing_registry_is_a_problem(tmp_path: Path) -> None:
    result = load_open_medicine(tmp_path)

    assert result.documents == []
    assert [p.message for p in result.problems] == ["no registry.json"]


def test_strip_front_matter() -> None:
    assert strip_front_matter("---\ntitle: x\n---\n# Heading\n\nBody\n") == "# Heading\n\nBody"
    # A thematic break later in the text is not front matter.
    assert strip_front_matter("# Heading\n\n---\n\nMore") == "# Heading\n\n---\n\nMore"
