"""PubMed XML loader, on hand-written fixtures in the PubMed efetch layout."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from corpus.loaders.pubmed import load_pubmed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pubmed"
ARTICLES = FIXTURES / "articles.xml"
TRUNCATED = FIXTURES / "truncated.xml"


def test_structured_abstract_document() -> None:
    result = load_pubmed(ARTICLES)
    doc = next(d for d in result.documents if d.id == "pubmed:99000001")

    assert doc.title == (
        "Reduced-dose apixaban in older adults with atrial fibrillation and impaired renal "
        "function: a cohort study."
    )
    assert doc.text.splitlines() == [
        "BACKGROUND: Dose reduction of apixaban is recommended when two of age, weight and "
        "serum creatinine criteria are met.",
        "METHODS: We followed 1,204 patients aged 80 years or older with a platelet count "
        "above 100 × 10^9/L.",
        "RESULTS: Major bleeding occurred in 3.1% of patients on 2.5 mg twice daily and 4.0% "
        "on 5 mg twice daily (HR 0.78; 95% CI, 0.61-0.99).",
        "CONCLUSIONS: Label-concordant dose reduction was associated with less bleeding.",
    ]
    assert "Copyright" not in doc.text
    assert doc.source_type == "research"
    assert doc.organization == "Journal of Fixture Clinical Pharmacology"
    assert doc.year == 2021
    assert doc.url == "https://pubmed.ncbi.nlm.nih.gov/99000001/"
    assert doc.license == "PubMed abstract (publisher copyright may apply)"
    assert doc.meta == {
        "pmid": "99000001",
        "journal": "Journal of Fixture Clinical Pharmacology",
        # The article's own DOI, not the one in its reference list.
        "doi": "10.9999/jfcp.2021.0001",
        "mesh": ["Atrial Fibrillation", "Factor Xa Inhibitors", "Aged, 80 and over"],
        "publication_types": ["Journal Article", "Observational Study"],
    }


def test_unstructured_abstract_and_medline_date() -> None:
    result = load_pubmed(ARTICLES)
    doc = next(d for d in result.documents if d.id == "pubmed:99000002")

    assert doc.text == (
        "Estimates of creatinine clearance by the Cockcroft-Gault equation differ from "
        "measured clearance in frail older adults. We review the implications for renally "
        "cleared drugs."
    )
    assert ":" not in doc.text.split(" ")[0]  # no label prefix
    assert doc.year == 2001  # from <MedlineDate>2001 Sep-Oct</MedlineDate>
    assert doc.meta["doi"] is None  # the only DOI in its record is a cited paper's
    assert doc.meta["publication_types"] == ["Journal Article", "Review"]


def test_article_without_abstract_is_a_problem() -> None:
    result = load_pubmed(ARTICLES)

    assert [d.id for d in result.documents] == ["pubmed:99000001", "pubmed:99000002"]
    assert [(p.where, p.message) for p in result.problems] == [
        (str(ARTICLES), "record 3: PMID 99000003 has no abstract; skipped")
    ]
    assert result.files_read == 1


def test_truncated_file_keeps_articles_before_the_break() -> None:
    result = load_pubmed(TRUNCATED)

    assert [d.id for d in result.documents] == ["pubmed:99000011"]
    assert result.documents[0].text == (
        "Trough levels above 1 mg/L were associated with nephrotoxicity."
    )
    assert len(result.problems) == 1
    problem = result.problems[0]
    line_count = len(TRUNCATED.read_text().splitlines())
    assert problem.where == f"{TRUNCATED}:{line_count + 1}"
    assert problem.message.startswith("malformed XML")


def test_directory_reads_xml_and_gz_and_ignores_other_files(tmp_path: Path) -> None:
    shutil.copy(TRUNCATED, tmp_path / "truncated.xml")
    (tmp_path / "sub").mkdir()
    with ARTICLES.open("rb") as src, gzip.open(tmp_path / "sub" / "a.xml.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (tmp_path / "notes.txt").write_text("<PubmedArticleSet/>")

    result = load_pubmed(tmp_path)

    assert result.files_read == 2
    assert sorted(d.id for d in result.documents) == [
        "pubmed:99000001",
        "pubmed:99000002",
        "pubmed:99000011",
    ]
    wheres = sorted(p.where.rsplit(":", 1)[0] for p in result.problems)
    assert wheres == [str(tmp_path / "sub" / "a.xml.gz"), str(tmp_path / "truncated.xml")]


def test_not_xml_file_is_reported_and_others_continue(tmp_path: Path) -> None:
    (tmp_path / "a_broken.xml").write_text("this is not XML at all")
    shutil.copy(ARTICLES, tmp_path / "b_articles.xml")

    result = load_pubmed(tmp_path)

    assert [d.id for d in result.documents] == ["pubmed:99000001", "pubmed:99000002"]
    assert result.problems[0].where == f"{tmp_path / 'a_broken.xml'}:1"
    assert result.problems[0].message.startswith("malformed XML")


def test_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (tmp_path / "xxe.xml").write_text(
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n'
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>99000021</PMID><Article>"
        "<ArticleTitle>t</ArticleTitle><Abstract><AbstractText>&x;</AbstractText></Abstract>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n"
    )

    result = load_pubmed(tmp_path / "xxe.xml")

    assert all("TOP SECRET" not in d.text for d in result.documents)
    assert result.problems  # the undefined entity is a parse error, reported


def test_empty_set_and_missing_path_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty.xml").write_text("<PubmedArticleSet></PubmedArticleSet>")

    empty = load_pubmed(tmp_path / "empty.xml")
    missing = load_pubmed(tmp_path / "absent")

    assert empty.documents == [] and [p.message for p in empty.problems] == [
        "no <PubmedArticle> records in this file"
    ]
    assert [p.message for p in missing.problems] == ["file or directory does not exist"]
