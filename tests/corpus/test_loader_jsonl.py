import json
from pathlib import Path

import pytest

from corpus.errors import ConfigError
from corpus.loaders import load_sources, parse_source
from corpus.loaders.jsonl import load_jsonl


def _rec(i: str, **kw: object) -> str:
    base = {
        "id": i,
        "title": f"T{i}",
        "text": f"text {i}",
        "source_type": "research",
        "license": "x",
    }
    base.update(kw)
    return json.dumps(base)


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text(
        "\n".join(
            [
                _rec("a"),
                '{"id": "b", "title": ',  # truncated JSON
                _rec("c", source_type="blog"),  # schema violation
                "[1, 2]",  # not an object
                "",  # blank lines are fine
                _rec("d", year=2019, meta={"pmid": "1"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    result = load_jsonl(f)
    assert [d.id for d in result.documents] == ["a", "d"]
    wheres = [p.where for p in result.problems]
    assert wheres == [f"{f}:2", f"{f}:3", f"{f}:4"]
    assert "not valid JSON" in result.problems[0].message
    assert "source_type" in result.problems[1].message
    assert result.documents[1].year == 2019 and result.documents[1].meta == {"pmid": "1"}


def test_invalid_utf8_line_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_bytes(_rec("a").encode() + b"\n" + b'{"id": "\xff"}\n')
    result = load_jsonl(f)
    assert [d.id for d in result.documents] == ["a"] and "UTF-8" in result.problems[0].message


def test_duplicate_ids_across_sources_are_reported_not_merged(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "docs.jsonl").write_text(_rec("x") + "\n" + _rec("y") + "\n")
    (tmp_path / "two" / "docs.jsonl").write_text(_rec("x", text="other text") + "\n")
    result = load_sources([f"jsonl:{tmp_path / 'one'}", f"jsonl:{tmp_path / 'two'}"])
    assert [d.id for d in result.documents] == ["x", "y"]
    assert result.documents[0].text == "text x"
    assert len(result.problems) == 1 and "duplicate document id 'x'" in result.problems[0].message


@pytest.mark.parametrize(
    ("spec", "message"),
    [("wiki:/tmp/x", "unknown source kind 'wiki'"), ("jsonl", "needs a path")],
)
def test_bad_source_spec_names_the_valid_kinds(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_source(spec)
    if "unknown" in message:
        assert "pack, jsonl, openfda, pubmed, open-medicine" in str(err.value)


def test_shared_corpus_files_parse_without_problems(shared_data: Path) -> None:
    result = load_jsonl(shared_data / "pubmedqa" / "docs.jsonl")
    assert result.problems == [] and len(result.documents) == 1000
