"""What an answer says about where its quotes come from, beyond the reference list.

A hospital's own protocols (``dir:`` sources, ``corpus.loaders.folder``) carry a status, an
owner and a review-by date in their document metadata. An answer that cites one says which
local protocol it follows; one that cites a protocol past its review-by date says since when
its review is overdue; one that cites a draft says so. A PDF citation names its page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from assistant.types import Citation
from corpus.types import DocumentInfo


def today() -> date:
    """The date review-by dates are compared with (the server's local date)."""
    return date.today()


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def review_by(doc: DocumentInfo) -> date | None:
    return _date(doc.meta.get("review_by"))


def overdue_since(doc: DocumentInfo, today: date) -> date | None:
    """The review-by date of a document past it, else None."""
    due = review_by(doc)
    return due if due is not None and due < today else None


def is_draft(doc: DocumentInfo) -> bool:
    return doc.meta.get("status") == "draft"


def usable(doc: DocumentInfo, allow_drafts: bool) -> bool:
    """Whether answers may quote ``doc``: a draft only where drafts are allowed (a retired
    document is never indexed)."""
    return allow_drafts or not is_draft(doc)


def _cited_docs(citations: Iterable[Citation]) -> list[DocumentInfo]:
    seen: dict[str, DocumentInfo] = {}
    for c in citations:
        seen.setdefault(c.passage.doc.id, c.passage.doc)
    return list(seen.values())


def source_notices(
    citations: Sequence[Citation], today: date, leading: Iterable[int] = ()
) -> list[str]:
    """One line per cited local protocol (the one the bottom line quotes is the one the
    answer follows; others are also cited), per draft and per document past its review
    date, in citation order. ``leading``: the bottom line's citation numbers."""
    out: list[str] = []
    lead = {c.passage.doc.id for c in citations if c.number in set(leading)}
    for doc in _cited_docs(citations):
        if doc.source_type == "institution":
            who = f" ({doc.organization})" if doc.organization else ""
            status = f"; {doc.review_status}" if doc.review_status else ""
            verb = "Follows" if doc.id in lead else "Also cites"
            out.append(f"{verb} the local protocol “{doc.title}”{who}{status}.")
        if is_draft(doc):
            out.append(
                f"“{doc.title}” is a draft, not an approved protocol: "
                "check it with its owner before acting on it."
            )
        due = overdue_since(doc, today)
        if due is not None:
            owner = f" by {doc.meta['owner']}" if doc.meta.get("owner") else ""
            out.append(
                f"Review overdue since {due.isoformat()}: “{doc.title}” was due for review"
                f"{owner}; check that it is still current."
            )
    return out


def hidden_drafts_notices(drafts: Sequence[DocumentInfo]) -> list[str]:
    """What an answer says of draft protocols that match its question but are not quoted."""
    return [
        f"The draft protocol “{d.title}” also matches this question; drafts are not quoted "
        "until approved (corpus.allow_drafts)."
        for d in drafts
    ]


def rank_by_priority(section: str, priority: Sequence[str]) -> int:
    """A source type's place in ``priority`` (earlier takes precedence); types not named
    come after every named one."""
    return priority.index(section) if section in priority else len(priority)
