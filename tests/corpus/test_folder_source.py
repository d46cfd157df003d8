"""A protocol folder as a source (``dir:PATH``): files read by their readers, library.yaml
metadata, statuses, and problems that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.errors import ConfigError, CorpusError
from corpus.loaders import load_sources, parse_source
from corpus.loaders.folder import load_folder

BODY = """# Examplamab infusion

## Dosing

- Loading dose: 10 mg/kg IV.
- Maintenance: 2 mg/kg/hour.
"""


def _folder(tmp_path: Path, library: str | None, files: dict[str, str]) -> Path:
    root = tmp_path / "protocols"
    root.mkdir(parents=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if library is not None:
        (root / "library.yaml").write_text(library, encoding="utf-8")
    return root


LIBRARY = """
defaults:
  organisation: Example Hospital
  jurisdiction: Example Health Board
documents:
  icu/examplamab.md:
    owner: Pharmacy and Therapeutics Committee
    status: approved
    approved: 2025-03-01
    review_by: 2027-03-01
  draftamab.md:
    title: Draftamab (consultation draft)
    status: draft
  oldamab.md:
    status: retired
"""


def test_statuses_owners_and_dates_come_from_library_yaml(tmp_path: Path) -> None:
    root = _folder(
        tmp_path,
        LIBRARY,
        {
            "icu/examplamab.md": BODY,
            "draftamab.md": BODY.replace("Examplamab", "Draftamab"),
            "oldamab.md": BODY.replace("Examplamab", "Oldamab"),
            "unlisted.md": BODY.replace("Examplamab", "Unlistamab"),
        },
    )
    result = load_folder(root)
    docs = {d.id: d for d in result.documents}
    assert set(docs) == {"icu-examplamab", "draftamab", "unlisted"}
    approved = docs["icu-examplamab"]
    assert approved.source_type == "institution"
    assert approved.title == "Examplamab infusion"  # the file's first heading
    assert approved.organization == "Example Hospital"
    assert approved.year == 2025
    assert approved.review_status == "approved by Pharmacy and Therapeutics Committee on 2025-03-01"
    assert approved.meta["status"] == "approved" and approved.meta["review_by"] == "2027-03-01"
    assert approved.meta["file"] == "icu/examplamab.md" and len(approved.meta["sha256"]) == 64
    assert approved.meta["jurisdiction"] == "Example Health Board"
    assert docs["draftamab"].title == "Draftamab (consultation draft)"
    assert docs["draftamab"].meta["status"] == "draft"
    # A file library.yaml does not name is a draft: its approval is not recorded.
    unlisted = docs["unlisted"]
    assert unlisted.meta["status"] == "draft" and unlisted.meta["status_recorded"] is False
    assert "not recorded" in (unlisted.review_status or "")
    assert any(
        p.where.endswith("unlisted.md") and "indexed as a draft" in p.message for p in result.notes
    )
    assert not any(p.where.endswith("unlisted.md") for p in result.problems)
    # The retired one is not indexed, and says so.
    assert any("oldamab.md" in p.where and "retired" in p.message for p in result.problems)


def test_a_malformed_library_stops_the_folder_naming_the_file_and_field(tmp_path: Path) -> None:
    root = _folder(tmp_path, "documents:\n  a.md:\n    status: approvedd\n", {"a.md": BODY})
    with pytest.raises(CorpusError, match=r"library\.yaml.*documents\.a\.md\.status"):
        load_folder(root)
    (root / "library.yaml").write_text("documents:\n  a.md:\n    reviewer: X\n", "utf-8")
    with pytest.raises(CorpusError, match="reviewer.*existing index was kept"):
        load_folder(root)
    (root / "library.yaml").write_text("documents:\n  a.md:\n    review_by: 2025-13-01\n", "utf-8")
    with pytest.raises(CorpusError, match=r"documents\.a\.md\.review_by"):
        load_folder(root)


def test_a_file_library_yaml_does_not_name_is_reported(tmp_path: Path) -> None:
    root = _folder(tmp_path, "documents:\n  gone.pdf:\n    status: approved\n", {"a.md": BODY})
    result = load_folder(root)
    assert [d.id for d in result.documents] == ["a"]
    assert any("'gone.pdf'" in p.message for p in result.problems)


def test_the_folder_default_status_applies_to_every_file(tmp_path: Path) -> None:
    root = _folder(tmp_path, "defaults:\n  status: approved\n", {"a.md": BODY, "b.md": BODY})
    result = load_folder(root)
    assert [d.meta["status"] for d in result.documents] == ["approved", "approved"]
    assert all(d.meta["status_recorded"] for d in result.documents) and not result.notes


def test_an_unreadable_file_is_named_and_skipped_never_indexed_empty(tmp_path: Path) -> None:
    root = _folder(tmp_path, None, {"good.md": BODY})
    (root / "bad.md").write_bytes(b"\x00\x01binary")
    (root / "empty.md").write_text("\n\n", encoding="utf-8")
    (root / "notes.xyz").write_text("not a supported kind", encoding="utf-8")
    result = load_folder(root)
    assert [d.id for d in result.documents] == ["good"]
    where = {Path(p.where).name: p.message for p in result.problems}
    assert "binary" in where["bad.md"] and "no text" in where["empty.md"]
    assert "notes.xyz" not in where  # not a protocol file kind: not read at all


def test_the_dir_source_kind_needs_a_path_and_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a path"):
        parse_source("dir")
    result = load_sources([f"dir:{tmp_path / 'nowhere'}"])
    assert not result.documents and "does not exist" in result.problems[0].message


def test_two_files_with_one_id_keep_the_first_and_say_so(tmp_path: Path) -> None:
    root = _folder(tmp_path, None, {})
    (root / "heparin.md").write_text(BODY, encoding="utf-8")
    (root / "heparin.txt").write_text(BODY, encoding="utf-8")
    result = load_folder(root)
    assert [d.meta["file"] for d in result.documents] == ["heparin.md"]
    assert any("also 'heparin.md'" in p.message for p in result.problems)


def test_a_damaged_pdf_in_the_folder_is_named_and_the_rest_is_indexed(tmp_path: Path) -> None:
    root = _folder(tmp_path, None, {"good.md": BODY})
    (root / "scan.pdf").write_bytes(b"%PDF-1.7\nnot really a PDF")
    result = load_folder(root)
    assert [d.id for d in result.documents] == ["good"]
    [problem] = [p for p in result.problems if "scan.pdf" in p.where]
    assert "not a readable PDF" in problem.message


def test_keys_written_with_nothing_under_them_say_nothing(tmp_path: Path) -> None:
    root = _folder(tmp_path, "defaults:\ndocuments:\n  a.md:\n", {"a.md": BODY})
    [doc] = load_folder(root).documents
    assert doc.meta["status"] == "draft" and not doc.meta["status_recorded"]
