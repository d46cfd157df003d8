"""ask() = check the question -> resolve the conversation -> retrieve -> generate -> guard.

Nothing else builds an Answer: whatever the generator (the extractive default or an LLM
behind an OpenAI-compatible endpoint), its draft goes through ``guardrails.check`` here,
and a statement the guard blocks is withheld with a visible notice and the reference
statement in its place.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Generator as Steps
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from assistant.abstention import missing_terms, uncovered_setting
from assistant.cards import CardLine, DoseCard, dose_card
from assistant.evidence import (
    Coverage,
    as_reversal,
    asked_use,
    coverage,
    fit,
    has_amount,
    passage_names,
    related_drugs,
    sentences_of,
    shared_contexts,
    speaks_of_monitoring,
    states_target,
)
from assistant.frame import Frame, indication_name, query_for, read_frame, spelling_variants
from assistant.generators import Generator, GeneratorError, get_generator
from assistant.generators.extractive import (
    ExtractiveGenerator,
    candidates,
    document_ranks,
    majority_document,
    score,
    without_reference_marks,
)
from assistant.knowledge import learn_products
from assistant.markup import inline
from assistant.premise import read_proposal
from assistant.provenance import (
    hidden_drafts_notices,
    is_draft,
    rank_by_priority,
    source_notices,
    today,
    usable,
)
from assistant.questions import clean_question
from assistant.related import related_questions
from assistant.render import render, review_status
from assistant.settings import Settings
from assistant.types import (
    Answer,
    AnswerEvent,
    Audience,
    Citation,
    Draft,
    Event,
    NoticeEvent,
    SectionKind,
    Statement,
    StatementEvent,
    Turn,
    Withheld,
)
from corpus.text import sentence_spans
from corpus.types import Chunk, DocumentInfo
from guardrails.check import check
from guardrails.extraction import find_drugs
from guardrails.lexicon import common_words, drug_lexicon
from guardrails.patient import Patient
from guardrails.products import ProductNames
from guardrails.reference import DoseEntry, Population, ReferenceTable, default_reference
from guardrails.rules import contraindicated
from guardrails.types import DoseMention, Finding, SourceText, Verdict
from retrieval.hybrid import HybridRetriever
from retrieval.protocols import Retriever, Vocabulary
from retrieval.tokenize import tokenize
from retrieval.types import Passage

if TYPE_CHECKING:
    from retrieval.indexing import IndexReport

_OPTION = re.compile(
    r"\b(?:switch\w*|chang\w* to|start\w*|use|using|give|giving|alternatives?|consider|"
    r"such as|preferred|recommend\w*|options? (?:is|are|include))\b",
    re.IGNORECASE,
)
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
# Guard findings that say no source supports a statement (a marker naming no passage given,
# a quote that does not say it); every other blocking finding is the dose check's.
UNSUPPORTED_RULES = frozenset({"CITATION_UNKNOWN", "STATEMENT_UNSUPPORTED"})


def _written(draft: Draft) -> tuple[str, ...]:
    """The statements of a draft, as the generator wrote them."""
    parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
    return tuple(s.text for s in parts)


def open_retriever(
    settings: Settings,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    refresh: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[HybridRetriever, IndexReport | None]:
    """A retriever over the configured index, and the report of the build check when
    ``refresh`` (the index is then rebuilt from ``settings.sources`` when missing or stale)."""
    from retrieval.embedders import get_embedder
    from retrieval.indexing import ensure_index
    from retrieval.store import open_index

    embedder = get_embedder(
        settings.retrieval.embedder,
        settings.models_dir,
        log,
        precision=settings.retrieval.precision,
    )
    if settings.retrieval.backend == "postgres":  # backend hook: the shared database
        from retrieval.postgres import open_live_retriever

        # built only by `bedside index --backend postgres`; replicas follow its active version
        return open_live_retriever(settings.retrieval, embedder), None
    index_dir = settings.resolved_index_dir
    report = None
    if refresh:
        report = ensure_index(
            settings.sources,
            index_dir,
            embedder=embedder,
            chunking=settings.corpus.chunking,
            retrieval=settings.retrieval,
            progress=progress,
        )
    retriever = HybridRetriever(open_index(index_dir, embedder), embedder, settings.retrieval)
    return retriever, report


@dataclass(frozen=True, slots=True)
class Asked:
    """A question read and searched for, before its draft: what ``_finish`` needs."""

    question: str
    query: str
    audience: Audience
    history: tuple[Turn, ...]
    frame: Frame
    passages: tuple[Passage, ...]
    coverage: Coverage
    card: DoseCard | None
    timings: dict[str, float]
    t0: float
    t_generate: float  # when drafting began: coverage, the card, the draft, what is added
    # Draft protocols that match the question but are not quoted (corpus.allow_drafts off)
    drafts: tuple[DocumentInfo, ...] = ()


def _shown_texts(answer: Answer) -> list[str]:
    shown = ([answer.bottom_line] if answer.bottom_line else []) + list(answer.statements)
    return [s.text for s in shown]


def _statement_events(answer: Answer, sent: Sequence[str]) -> Iterator[StatementEvent]:
    """The shown statements of ``answer``, bottom line first, after the ``sent`` ones."""
    shown = ([answer.bottom_line] if answer.bottom_line else []) + list(answer.statements)
    by_number = {c.number: c for c in answer.citations}
    for i, s in enumerate(shown[len(sent) :], start=len(sent)):
        yield StatementEvent(
            s.text,
            tuple(by_number[n] for n in s.citations if n in by_number),
            s.section,
            s.task,
            bottom_line=i == 0 and answer.bottom_line is not None,
        )


@dataclass
class Assistant:
    """A ready pipeline: settings, a retriever over an open index, a generator."""

    settings: Settings
    # The pipeline asks only what retrieval.protocols.Retriever lists (a test reads this
    # package's source for reach-ins); the server and the benchmarks hold the concrete one.
    retriever: HybridRetriever
    generator: Generator
    reference: ReferenceTable = field(default_factory=default_reference)
    # Whether the served index holds draft protocols, by index digest (read once per index)
    _drafts_known: dict[str, bool] = field(default_factory=dict, repr=False)
    # What its documents say their products are, by index digest (learned once per index)
    _products_known: dict[str, ProductNames] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        progress: Callable[[str, int, int], None] | None = None,
        log: Callable[[str], None] | None = None,
        *,
        refresh: bool = True,
    ) -> Assistant:
        """Open the configured index. With ``refresh`` it is built from ``settings.sources``
        when missing or stale; without, it is served as built (after verification)."""
        retriever, report = open_retriever(settings, progress, refresh=refresh, log=log)
        if report is not None and report.built and log:
            log(f"built the index ({report.reason}); {report.manifest.counts.chunks} chunks")
        retriever.search("warm up")  # load the model now, not on the first question
        assistant = cls(settings, retriever, get_generator(settings.assistant.generator, settings))
        assistant._products()  # ... and what the documents say their products are
        return assistant

    # ------------------------------------------------------------------ ask

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        patient: Patient | None = None,
        audience: Audience = "clinician",
    ) -> Answer:
        asked = self._prepare(question, history, patient, audience)
        if isinstance(asked, Answer):
            return asked
        return self.ask_prepared(asked)

    def ask_stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        patient: Patient | None = None,
        audience: Audience = "clinician",
    ) -> Steps[Event, None, None]:
        """``ask``, as events: each statement as soon as it has passed the guard (the dose
        check and the support check, with its citations), the bottom line first, then the
        ``AnswerEvent`` with the Answer ``ask`` returns for the same reply.

        A generator that streams (``generate_stream``) is read statement by statement: the
        draft so far is guarded and composed as a whole answer would be, and the statements
        it shows are sent in the order it shows them, once its own bottom line has passed
        (when the guard withholds that, the lead is chosen from the whole answer, so the
        rest waits for it). A statement that fails is never sent. Other generators answer
        whole, and their statements are sent then. Closing the iterator closes the
        generator's request."""
        stream = getattr(self.generator, "generate_stream", None)
        asked = self._prepare(question, history, patient, audience)
        if isinstance(asked, Answer) or not callable(stream):
            answer = asked if isinstance(asked, Answer) else self.ask_prepared(asked)
            yield from _statement_events(answer, ())
            yield AnswerEvent(answer)
            return
        sent: list[str] = []
        notes: list[str] = []
        draft: Draft | None = None
        drafts = stream(asked.query, asked.passages, history, frame=asked.frame)
        try:
            for draft in drafts:
                answer, guarded = self._finish(asked, draft, _written(draft), [], provisional=True)
                own = guarded.bottom_line
                if own is None or answer.bottom_line is None or answer.bottom_line.text != own.text:
                    continue  # the lead is not settled until the whole answer is
                if _shown_texts(answer)[: len(sent)] != sent:
                    continue  # an earlier statement changed: the whole answer will say
                for event in _statement_events(answer, sent):
                    sent.append(event.text)
                    yield event
            if draft is None:
                raise GeneratorError("the language model's stream ended without a draft")
            own_words = _written(draft)
        except GeneratorError as exc:
            draft = self._extracted(asked, exc, notes)
            own_words = ()
        finally:
            drafts.close()
        answer = self._finish(asked, draft, own_words, notes)[0]
        if _shown_texts(answer)[: len(sent)] == sent:
            yield from _statement_events(answer, sent)
        else:
            yield NoticeEvent(
                "The answer changed as it was completed: the full answer below replaces the "
                "statements shown while it was written."
            )
        yield AnswerEvent(answer)

    def ask_prepared(self, asked: Asked) -> Answer:
        """The answer to a question ``_prepare`` has read and searched for."""
        notes: list[str] = []
        try:
            draft = self._generate(
                self.generator, asked.query, asked.passages, asked.history, asked.frame
            )
            own_words = () if self.generator.quotes else _written(draft)
        except GeneratorError as exc:
            draft = self._extracted(asked, exc, notes)
            own_words = ()
        return self._finish(asked, draft, own_words, notes)[0]

    def _extracted(self, asked: Asked, error: GeneratorError, notes: list[str]) -> Draft:
        """The extractive draft, when the configured generator failed (said in ``notes``)."""
        notes.append(f"{error} The answer below was composed by extraction instead.")
        extractive = ExtractiveGenerator(self.settings.assistant, self.settings.corpus.priority)
        return self._generate(extractive, asked.query, asked.passages, asked.history, asked.frame)

    def _prepare(
        self,
        question: str,
        history: Sequence[Turn],
        patient: Patient | None,
        audience: Audience,
    ) -> Asked | Answer:
        """The question read, its passages retrieved and its coverage judged; or the
        abstention, when the sources do not answer it."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question = clean_question(question, self.settings.assistant.max_question_chars)
        frame = read_frame(question, history, patient, self.reference)
        spelt = _spellings(question, frame, self.retriever)
        if spelt != question:
            # A misspelt drug ("gabaepntin") is read as the drug, not as the asked condition,
            # a misspelt word as the sources spell it. The patient's facts stay as typed where
            # the typed words gave them ("woman" is the patient's sex, whether or not the
            # sources write that word).
            typed = frame
            frame = read_frame(spelt, history, patient, self.reference)
            frame = replace(
                frame,
                patient=frame.patient.merged(typed.patient),
                populations=tuple(dict.fromkeys((*typed.populations, *frame.populations))),
            )
        frame = as_reversal(frame, self.reference)
        query = query_for(question, frame, self.reference)
        query = _with_corrections(query, self.retriever)
        condense = getattr(self.generator, "condense", None)
        if callable(condense) and frame.inherited:
            # The model's rewrite when it is one plausible query; else the frame's.
            query = str(condense(question, history, fallback=query))
        timings["prepare"] = _ms(t0)

        t = time.perf_counter()
        # Searched in both spellings the corpus writes ("haemorrhage", "hemorrhage"); the
        # question's words are measured as asked.
        passages = self._retrieve(_with_variants(query, self.retriever), frame)
        drafts = self._hidden_drafts(query)
        timings["retrieve"] = _ms(t)

        missing = missing_terms(question, self.retriever, frame)
        # A message of several sentences is measured by its best-supported sentence (the
        # question in it), and by what its frame says it asks, not by its small talk.
        pool = candidates(passages, frame, self.reference)
        # A follow-up's query carries the conversation's subject; the turn's own words are
        # measured too, so what it adds is judged as asked, not as the query phrases it.
        asks = [query, question] if frame.follows else [query]
        if frame.follows and (news := frame.situation.turn_news()):
            # And what it adds, as the sources name it: "he's now having a brisk upper GI
            # bleed" is asked as "argatroban active bleeding".
            asks.append(news)
        if len(question.split()) > 25:
            asks += [question[a:b] for a, b in sentence_spans(question) if b - a > 12]
            asks.append(_frame_words(frame, self.reference))
        # Words no indexed text has cannot be covered by any sentence: missing_terms judges
        # those; support is measured over the words the corpus knows. A number alone ("in
        # 2018") is no topic: support rests on words.
        known = [
            " ".join(w for w in ask.split() if _all_known(w, self.retriever) and _LETTER.search(w))
            for ask in asks
        ]
        support = max(
            (s.coverage for ask in known if ask for s in score(ask, pool, frame)),
            default=0.0,
        )
        unserved = None
        if not missing and support >= self.settings.assistant.abstain_below:
            on_frame = [c for c in pool if c.fit == "on"]
            # A dose for a population is judged by the coverage check, which names what the
            # sources do cover.
            dosing = frame.intent in ("dose", "reversal") and bool(frame.drugs)
            unserved = uncovered_setting(
                question if frame.follows else query,
                lambda text: score(text, on_frame, frame),
                frame.drugs,
                skip=frame.populations if dosing else (),
            )
        if missing or unserved or support < self.settings.assistant.abstain_below:
            timings["total"] = _ms(t0)
            # The drug is in the corpus but the asked use is not ("ceftriaxone for gonorrhoea"):
            # say what its doses are for, rather than only that the use is missing.
            cover = self._coverage(frame, passages) if frame.drugs else Coverage("covered")
            if cover.status == "not_covered" and cover.message:
                return self._abstain(
                    question,
                    query,
                    audience,
                    passages,
                    frame,
                    cover.message,
                    timings,
                    cover,
                    drafts=drafts,
                )
            if unserved:
                reason = (
                    f"Bedside's sources do not speak of {unserved} for this question: no "
                    "guideline, drug label or study in the corpus covers it, so Bedside does "
                    "not answer it from the general case."
                )
            elif missing:
                reason = (
                    f"No guideline, drug label or study in Bedside's corpus mentions {_join(missing)}, "
                    "so Bedside cannot answer this question."
                )
            else:
                reason = (
                    "Bedside's sources do not answer this question closely enough to quote: no "
                    "guideline, drug label or study in the corpus covers it."
                )
            return self._abstain(
                question, query, audience, passages, frame, reason, timings, drafts=drafts
            )

        t = time.perf_counter()
        cover = self._coverage(frame, passages)
        # Doses of several drugs listed together ("doses of enox, dalteparin and SC heparin";
        # "LMWH or UFH?") are answered from the sources: one drug's card answers none.
        listed = len(frame.drugs) > 1 and lists_drugs(question)
        card = (
            dose_card(frame, self.reference) if cover.status == "covered" and not listed else None
        )
        return Asked(
            question, query, audience, tuple(history), frame, tuple(passages), cover, card,
            timings, t0, t, drafts,
        )  # fmt: skip

    def _finish(
        self,
        asked: Asked,
        draft: Draft,
        own_words: tuple[str, ...],
        notes: list[str],
        *,
        provisional: bool = False,
    ) -> tuple[Answer, Draft]:
        """The draft with what the pipeline adds, guarded and composed: the Answer, and the
        draft the guard checked. ``provisional``: a draft of the reply so far (its timings
        are not the answer's)."""
        question, query, audience = asked.question, asked.query, asked.audience
        history, frame, passages = asked.history, asked.frame, list(asked.passages)
        cover, card, facts = asked.coverage, asked.card, asked.frame.patient
        timings = dict(asked.timings) if provisional else asked.timings
        t0, t = asked.t0, asked.t_generate
        if cover.status == "not_covered" and frame.intent == "safety":
            # Nothing speaks of the drug in that group: quote nothing, list the closest sources.
            draft = Draft((), draft.citations, None, draft.generator, draft.notes)
        elif cover.status == "not_covered":
            draft = _without_doses_of(draft, cover, self.reference)
        elif (
            card is not None
            and card.status == "regimen"
            and _says_no_to(draft.bottom_line, card.drug, self.reference)
        ):
            # A source the question found says no to the drug for this patient (a band the
            # reference lacks): that leads, and no dose of the drug is shown under it.
            no = draft.bottom_line
            kept = _without_doses_of(draft, Coverage("not_covered", card.drug), self.reference)
            rest = tuple(x for x in kept.statements if x is not no)
            draft = replace(kept, bottom_line=no, statements=rest)
        elif card is not None:
            if card.status != "regimen":  # contraindicated, or no band fits this patient
                gone = Coverage("not_covered", card.drug)
                draft = _without_doses_of(draft, gone, self.reference)
            draft = self._with_card(draft, card)
        elif frame.intent == "choice" and self.generator.quotes:
            draft = self._with_agent_doses(draft, frame)
        if card is None:
            draft = self._with_contraindication(draft, question, frame)
        if (
            cover.status != "not_covered"
            and frame.intent != "definition"  # what a thing is, not how to give it
            and self.generator.quotes
        ):
            draft = self._with_targets(draft, frame, question)
        if card is None and self.generator.quotes:
            draft = _with_total(draft, frame)
        timings["generate"] = _ms(t)

        t = time.perf_counter()
        context = _guard_context(frame, history, question, self.reference)
        verdict = check(
            draft.raw_text,
            {c.number: c.passage.chunk.id for c in draft.citations},
            {c.passage.chunk.id: source_text(c.passage, self._products()) for c in draft.citations},
            facts,
            context,
            self.reference,
            own_words=own_words,
        )
        timings["check"] = _ms(t)
        answer = self._compose(
            question,
            query,
            audience,
            draft,
            verdict,
            passages,
            notes,
            timings,
            t0,
            frame=frame,
            coverage=cover,
            card=card,
            drafts=asked.drafts,
        )
        return answer, draft

    # ------------------------------------------------------------------ parts

    def _search(self, query: str, k: int) -> list[Passage]:
        """The retriever's top ``k`` for ``query`` without the documents answers may not
        quote: a draft protocol unless ``corpus.allow_drafts``. When drafts were among
        them, the search looks deeper so that ``k`` usable passages remain."""
        allow = self.settings.corpus.allow_drafts
        found = self.retriever.search(query, k=k)
        kept = [p for p in found if usable(p.doc, allow)]
        if len(kept) < len(found):
            deeper = self.retriever.search(query, k=k * 2)
            kept = [p for p in deeper if usable(p.doc, allow)][:k]
        return kept

    def _hidden_drafts(self, query: str) -> tuple[DocumentInfo, ...]:
        """Draft protocols among the best passages for ``query`` that answers do not quote
        (``corpus.allow_drafts`` off): the answer says they exist. Nothing is searched when
        drafts are allowed or the index holds none."""
        if self.settings.corpus.allow_drafts or not self._index_has_drafts():
            return ()
        found = self.retriever.search(query, k=self.settings.assistant.k)
        return tuple({p.doc.id: p.doc for p in found if is_draft(p.doc)}.values())

    def _products(self) -> ProductNames:
        """What the served index's documents say their products are (learned once per index
        digest, from every chunk)."""
        digest = self.retriever.digest
        if digest not in self._products_known:
            self._products_known = {digest: learn_products(self.retriever, self.reference)}
        return self._products_known[digest]

    def _index_has_drafts(self) -> bool:
        digest = self.retriever.digest
        if digest not in self._drafts_known:
            self._drafts_known = {digest: any(is_draft(d) for d in self.retriever.documents())}
        return self._drafts_known[digest]

    def _retrieve(self, query: str, frame: Frame) -> list[Passage]:
        """The passages the answer is chosen from: the top ones for the query, those just
        below them that a second search, for what the frame reads the question to ask,
        finds too, then the rest of the best-ranked document."""
        ranked = self._search(query, RANKED)
        if frame.intent == "choice":
            # A management question has several options, often in several documents.
            passages = _diverse(ranked, self.settings.assistant.k + 4, per_doc=6, lead_per_doc=12)
        else:
            passages = _guideline_first(ranked, self.settings.assistant.k)
            first = self.settings.corpus.priority[0]
            if first != "guideline":  # the hospital's own protocols, by default
                passages = _guideline_first(passages + ranked, len(passages), kind=first)
        asked = _frame_query(query, frame, self.reference)
        if asked:
            second = self._search(asked, SECOND_LOOK_DEPTH)
            passages = _second_look(passages, ranked, second)
        passages = self._with_named_drugs(passages, frame)
        return _with_lead_document(passages, self.retriever, query)

    def _with_named_drugs(self, passages: list[Passage], frame: Frame) -> list[Passage]:
        """The passages, led by those that name an asked drug when none of them does: a
        question's chatter ("starting dose ... and what do we titrate to") can outweigh a
        rare drug's name, and a question about a drug is answered from passages that name
        it. Each missing drug is searched by its name alone; up to ``DRUG_LOOK_MOST`` of the
        passages found that name it lead, in that search's order."""
        lead: list[Passage] = []
        for drug in frame.drugs[:2]:
            named = frozenset({drug})
            if any(passage_names(p, named) for p in passages):
                continue
            have = {p.chunk.id for p in (*passages, *lead)}
            found = [
                p
                for p in self._search(drug, SECOND_LOOK_DEPTH)
                if p.chunk.id not in have and passage_names(p, named)
            ]
            lead += found[:DRUG_LOOK_MOST]
        if not lead:
            return passages
        ordered = [*lead, *passages]
        return [replace(p, rank=n) for n, p in enumerate(ordered, start=1)]

    @staticmethod
    def _generate(
        generator: Generator,
        query: str,
        passages: Sequence[Passage],
        history: Sequence[Turn],
        frame: Frame,
    ) -> Draft:
        return generator.generate(query, passages, history, frame=frame)

    def _coverage(self, frame: Frame, passages: Sequence[Passage]) -> Coverage:
        """Whether the corpus gives the asked drug a dose for the asked use: the retrieved
        passages, plus the passages a search for the drug's doses finds."""
        if not frame.drugs:
            return Coverage("covered")
        if frame.intent not in ("dose", "reversal", "safety"):
            return coverage(frame, [], self.reference)  # a reversal agent for another drug
        pool = list(passages)
        seen = {p.chunk.id for p in pool}
        # The drug's dose passages, by its name with and without the asked use: "not
        # covered" is said only after the passages that name the drug were read.
        use = asked_use(frame, self.reference)
        for drug in frame.drugs[:2]:
            searches = [(f"{drug} dose", 15), (drug, COVERAGE_DEPTH)]
            if use:
                searches.append((f"{drug} {use}", 15))
            for text, k in searches:
                for p in self._search(text, k):
                    if p.chunk.id not in seen:
                        pool.append(p)
                        seen.add(p.chunk.id)
        contexts = shared_contexts(self.reference)
        return coverage(frame, sentences_of(pool, contexts), self.reference)

    def _with_agent_doses(self, draft: Draft, frame: Frame, most: int = 4) -> Draft:
        """A management answer names agents ("switch to argatroban or bivalirudin"): each
        named agent the answer gives no dose for gets the dose sentence its sources state,
        quoted and cited, under Options."""
        parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
        named: list[str] = []
        dosed: set[str] = set()
        for s in parts:
            hits = find_drugs(s.text)
            if has_amount(s.text) and s.task != "populations":
                # A special population's dose (argatroban in hepatic impairment) is not the
                # agent's starting dose.
                dosed.update(name for _, _, name in hits)
            for start, _, name in hits:
                # An option is an agent to switch to or start, not one named as a cause.
                if _OPTION.search(s.text[max(0, start - 70) : start]) and name not in named:
                    named.append(name)
        wanted = [
            d
            for d in named
            if d not in dosed and d not in frame.drugs and self.reference.entries_for(d)
        ][:most]
        if not wanted:
            return draft
        numbers = {c.passage.chunk.id: c.number for c in draft.citations}
        citations = list(draft.citations)
        added: list[Statement] = []
        for agent in wanted:
            found = self._agent_dose(agent, frame)
            if found is None:
                continue
            passage, start, end = found
            if passage.chunk.id not in numbers:
                numbers[passage.chunk.id] = max(numbers.values(), default=0) + 1
            number = numbers[passage.chunk.id]
            citations.append(Citation(number, passage, start, end))
            # A reference quote may run over several list lines: one statement is one line
            # (the citation still points at the exact span).
            text = " ".join(
                _LIST_MARK.sub("", line).strip()
                for line in without_reference_marks(passage.chunk.text[start:end]).splitlines()
                if line.strip()
            )
            added.append(Statement(text, (number,), passage.doc.source_type, "options"))
        if not added:
            return draft
        return Draft(
            draft.statements + tuple(added),
            tuple(citations),
            draft.bottom_line,
            draft.generator,
            draft.notes,
        )

    def _with_targets(self, draft: Draft, frame: Frame, question: str, most: int = 2) -> Draft:
        """A dose is titrated to a target: each quoted dose (and each statement that says to
        monitor or titrate a drug without saying to what) is followed by the sentence of its
        own source that states that drug's target for the asked use, when the answer quotes
        no target from that source. The target often sits in another section of the same
        label (argatroban's aPTT range under dosing, the ACT range under PCI). The answer
        keeps its length: past ``assistant.max_statements`` quotes, the weakest quote that
        is no dose gives way."""
        parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
        by_number = {c.number: c for c in draft.citations}
        contexts = shared_contexts(self.reference)

        def use_of(c: Citation) -> frozenset[str]:
            """The use a cited sentence is for: its own words, else its headings."""
            for info in contexts.of(c.passage):
                if info.start <= c.quote_start < max(info.end, info.start + 1):
                    return info.indications
            return frozenset()

        # (document, use) pairs whose target the answer already quotes
        with_target = {
            (by_number[n].passage.doc.id, use_of(by_number[n]))
            for s in parts
            if states_target(s.text)
            for n in s.citations
            if n in by_number
        }
        wanted: list[tuple[str, frozenset[str], frozenset[str], Citation]] = []
        for s in parts:
            drugs = frozenset(name for _, _, name in find_drugs(s.text))
            if not drugs or states_target(s.text):
                continue
            if not (has_amount(s.text) or speaks_of_monitoring(s.text)):
                continue
            for n in s.citations:
                c = by_number.get(n)
                if c is None:
                    continue
                key = (c.passage.doc.id, use_of(c))
                if key in with_target or any((w[0], w[1]) == key for w in wanted):
                    continue
                wanted.append((key[0], key[1], drugs, c))
        if not wanted:
            return draft
        # The asked use's doses first; a label states its own targets, a study's are its own.
        order = {"label": 0, "guideline": 1, "reference": 2, "research": 3}
        wanted.sort(
            key=lambda w: (
                not (w[1] & set(frame.indications)),
                order.get(w[3].passage.doc.source_type, 4),
            )
        )
        asked = set(tokenize(question))
        allowed = related_drugs(frame, self.reference)
        numbers = {c.passage.chunk.id: c.number for c in draft.citations}
        citations = list(draft.citations)
        added: list[Statement] = []
        shown = {" ".join(s.text.split()) for s in parts}
        for doc_id, use, drugs, cited in wanted:
            if len(added) >= most:
                break
            best: tuple[tuple[int, int, int, int], Chunk, int, int] | None = None
            for chunk in self.retriever.chunks_of(doc_id):
                passage = Passage(chunk, self.retriever.document(doc_id), 0.0, 0)
                for info in contexts.of(passage):
                    text = chunk.text[info.start : info.end]
                    if not info.quotable or not states_target(text) or not info.drugs & drugs:
                        continue
                    if " ".join(text.split()) in shown:
                        continue
                    if fit(info, text, passage, frame, self.reference, allowed) != "on":
                        continue
                    same_use = bool(info.indications & (use or set(frame.indications)))
                    rank = (
                        int(same_use),
                        int(chunk.id == cited.passage.chunk.id),
                        len(asked & set(tokenize(text))),
                        -info.start,
                    )
                    if best is None or rank > best[0]:
                        best = (rank, chunk, info.start, info.end)
            if best is None:
                continue
            _, chunk, start, end = best
            passage = Passage(chunk, self.retriever.document(doc_id), 0.0, 0)
            if chunk.id not in numbers:
                numbers[chunk.id] = max(numbers.values(), default=0) + 1
            citations.append(Citation(numbers[chunk.id], passage, start, end))
            text = without_reference_marks(chunk.text[start:end])
            shown.add(" ".join(text.split()))
            added.append(
                Statement(text, (numbers[chunk.id],), passage.doc.source_type, "monitoring")
            )
        if not added:
            return draft
        statements = list(draft.statements)
        limit = self.settings.assistant.max_statements + (4 if frame.intent == "choice" else 0)
        quoted = sum(not s.computed for s in parts)
        for _ in range(max(0, quoted + len(added) - max(limit, quoted))):
            weakest = next(
                (
                    i
                    for i in range(len(statements) - 1, -1, -1)
                    if not statements[i].computed
                    and not has_amount(statements[i].text)
                    and not states_target(statements[i].text)
                ),
                None,
            )
            if weakest is None:
                break
            statements.pop(weakest)
        return Draft(
            tuple(statements + added),
            tuple(citations),
            draft.bottom_line,
            draft.generator,
            draft.notes,
        )

    def _agent_dose(self, agent: str, frame: Frame) -> tuple[Passage, int, int] | None:
        """The pack sentence that states ``agent``'s dose, from the dose reference: for the
        asked use when the reference has one, else its standing (non-procedural) regimen's
        first step, e.g. argatroban's infusion for HIT rather than its PCI bolus."""
        entries = self.reference.entries_for(agent)
        bound = {i.id for i in self.reference.indications if i.setting_bound}

        def rank(e: DoseEntry) -> tuple[int, int]:
            use = 0 if e.indication in frame.indications else (2 if e.indication in bound else 1)
            return (use, 0 if e.population == Population() else 1)

        procedural = bool(set(frame.indications) & bound)
        for entry in sorted(entries, key=rank):
            if entry.indication in bound and not procedural:
                continue  # a PCI or bypass regimen is not the option's dose at the bedside
            if not _standard(entry.population):
                continue  # a reduced band's dose (renal, hepatic) is not the starting dose
            found = self._locate(entry.cite.doc, entry.cite.quote)
            if found is None:
                continue
            chunk, start = found
            passage = Passage(chunk, self.retriever.document(chunk.doc_id), 0.0, 0)
            return passage, start, start + len(entry.cite.quote)
        return None

    def _with_contraindication(self, draft: Draft, question: str, frame: Frame) -> Draft:
        """A question that proposes giving a drug the patient's facts contraindicate (the
        guard's contraindication data: active bleeding, HIT, CrCl below 30, pregnancy,
        dialysis; facts from every turn) is answered No first, with the contraindication's
        own cited source; the generator's answer follows."""
        proposal = read_proposal(question)
        if proposal is None or proposal.action in _NOT_GIVING or not proposal.drugs:
            return draft
        if draft.bottom_line is not None and draft.bottom_line.text.startswith("No — "):
            return draft  # the answer already says no, from the sources the question found
        found = next(
            (
                c
                for d in proposal.drugs
                if (c := contraindicated(d, frame.patient, self.reference)) is not None
            ),
            None,
        )
        if found is None or (at := self._locate(found.cite.doc, found.cite.quote)) is None:
            return draft
        chunk, start = at
        numbers = {c.passage.chunk.id: c.number for c in draft.citations}
        citations = list(draft.citations)
        if chunk.id not in numbers:
            numbers[chunk.id] = max(numbers.values(), default=0) + 1
            passage = Passage(chunk, self.retriever.document(chunk.doc_id), 0.0, 0)
            citations.append(
                Citation(numbers[chunk.id], passage, start, start + len(found.cite.quote))
            )
        section: SectionKind = "label"
        bottom = Statement(
            f"No — {found.message}", (numbers[chunk.id],), section, "safety", computed=True
        )
        body = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
        return Draft(tuple(body), tuple(citations), bottom, draft.generator, draft.notes)

    def _with_card(self, draft: Draft, card: DoseCard) -> Draft:
        """The draft with the dose card first: its headline is the bottom line, its other
        lines lead the body, and the generator's own bottom line follows them."""
        numbers = {c.passage.chunk.id: c.number for c in draft.citations}
        citations = list(draft.citations)

        def cite(line: CardLine) -> tuple[int, ...] | None:
            out: list[int] = []
            for entry in line.entries:
                found = self._locate(entry.cite.doc, entry.cite.quote)
                if found is None:
                    return None
                chunk, start = found
                if chunk.id not in numbers:
                    numbers[chunk.id] = max(numbers.values(), default=0) + 1
                    passage = Passage(chunk, self.retriever.document(chunk.doc_id), 0.0, 0)
                    citations.append(
                        Citation(numbers[chunk.id], passage, start, start + len(entry.cite.quote))
                    )
                out.append(numbers[chunk.id])
            return tuple(dict.fromkeys(out))

        head = cite(card.headline)
        if head is None:
            return draft  # the reference's source is not in this index: no card
        section: SectionKind = "label"
        bottom = Statement(card.headline.text, head, section, "card", computed=True)
        lines = []
        for line in card.lines:
            marks = cite(line)
            if marks is not None:
                lines.append(Statement(line.text, marks, section, "card", computed=True))
        body = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
        priority = self.settings.corpus.priority
        by_number = {c.number: c for c in citations}
        card_rank = min(
            rank_by_priority(by_number[n].passage.doc.source_type, priority) for n in head
        )
        own = draft.bottom_line
        if own is not None and rank_by_priority(own.section, priority) == 0 < card_rank:
            # The source that takes precedence over all others (a hospital's own
            # protocol, by default) answered: its words stay the bottom line, the card
            # computed from the reference follows.
            return Draft(
                (bottom, *lines, *draft.statements),
                tuple(citations),
                own,
                draft.generator,
                draft.notes,
            )
        return Draft(tuple(lines + body), tuple(citations), bottom, draft.generator, draft.notes)

    def _compose(
        self,
        question: str,
        query: str,
        audience: Audience,
        draft: Draft,
        verdict: Verdict,
        passages: Sequence[Passage],
        notes: list[str],
        timings: dict[str, float],
        t0: float,
        *,
        frame: Frame,
        coverage: Coverage,
        card: DoseCard | None,
        drafts: Sequence[DocumentInfo] = (),
    ) -> Answer:
        lines = draft.raw_text.split("\n")
        starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
        parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
        citations = list(draft.citations)
        shown: list[Statement] = []
        withheld: list[Withheld] = []
        bottom: Statement | None = None
        for i, statement in enumerate(parts):
            span = (starts[i], starts[i] + len(lines[i]))
            blocks = [
                f
                for f in verdict.findings
                if f.severity == "block" and span[0] <= f.span[0] < span[1]
            ]
            reasons = [f.message for f in blocks]
            if not statement.citations:
                reasons.append("it cites no source")
            if reasons:
                dose = any(f.rule_id not in UNSUPPORTED_RULES for f in blocks)
                withheld.append(
                    Withheld(
                        statement,
                        tuple(reasons),
                        self._replacement(blocks, citations),
                        "dose_check" if dose else "unsupported",
                    )
                )
            elif statement is draft.bottom_line:
                bottom = statement
            else:
                shown.append(statement)
        if bottom is None and shown and coverage.status == "covered":
            bottom = shown.pop(_next_lead(shown, citations, passages))
        bottom, shown, withheld, cited = _renumber(bottom, shown, withheld, citations)
        # Nothing left to show is an abstention, said as one: never an empty answer.
        notice, abstained = coverage.message, coverage.status == "not_covered"
        closest: list[str] = []
        if coverage.status == "not_covered":
            closest = _closest(passages)
        elif bottom is None and not shown:
            abstained, closest = True, _closest(passages)
            notice = _withheld_notice(withheld) or (
                "Bedside's sources do not answer this question closely enough to quote: "
                "no sentence of the closest sources answers it."
            )
        related = related_questions(passages, cited, frame, query, self.reference)
        status = review_status(cited)
        markdown = render(
            bottom_line=bottom,
            statements=shown,
            withheld=withheld,
            citations=cited,
            verdict=verdict,
            related=related,
            audience=audience,
            status=status,
            notice=notice,
            closest=closest,
            layout=self.settings.assistant.layout,
            intent=frame.intent,
            extra_link_hosts=self.settings.assistant.link_hosts,
            notes=[*notes, *draft.notes],
        )
        provenance = source_notices(cited, today(), bottom.citations if bottom else ())
        provenance += hidden_drafts_notices(drafts)
        if provenance:
            markdown = "\n".join(f"> {inline(n)}" for n in provenance) + "\n\n" + markdown
        timings["total"] = _ms(t0)
        return Answer(
            **self._stamp(question, query, audience, timings),
            verdict=verdict,
            markdown=markdown,
            raw_text=draft.raw_text,
            bottom_line=bottom,
            statements=tuple(shown),
            withheld=tuple(withheld),
            citations=tuple(cited),
            passages=tuple(passages),
            related_questions=tuple(related),
            # "Not covered for this use" is an abstention on the question asked.
            abstained=abstained,
            abstention_reason=notice,
            review_status=status,
            generator=draft.generator,
            frame=frame,
            coverage=coverage,
            dose_card=card,
            source_notices=tuple(provenance),
            notes=(*notes, *draft.notes),
        )

    def _stamp(
        self, question: str, query: str, audience: Audience, timings: dict[str, float]
    ) -> dict[str, Any]:
        """The fields every answer carries: identity, question, disclaimer and what produced it."""
        return {
            "answer_id": uuid.uuid4().hex,
            "question": question,
            "standalone_query": query,
            "audience": audience,
            "disclaimer": _disclaimer(audience),
            "timings_ms": timings,
            "settings_digest": self.settings.digest(),
            "index_digest": self.retriever.digest,
        }

    def _replacement(self, blocks: list[Finding], citations: list[Citation]) -> str | None:
        """The reference statement for a blocked dose, cited to its pack passage."""
        for f in blocks:
            if f.source is None:
                continue
            doc_id, quote = f.source.doc_id, f.source.quote
            found = self._locate(doc_id, quote)
            if found is None:
                return f"\u201c{quote}\u201d ({doc_id})"
            chunk, start = found
            passage = Passage(chunk, self.retriever.document(chunk.doc_id), score=0.0, rank=0)
            number = next(
                (c.number for c in citations if c.passage.chunk.id == chunk.id),
                max((c.number for c in citations), default=0) + 1,
            )
            citations.append(Citation(number, passage, start, start + len(quote)))
            return f"\u201c{quote}\u201d [{number}]"
        return None

    def _locate(self, doc_id: str, quote: str) -> tuple[Chunk, int] | None:
        for chunk in self.retriever.chunks_of(doc_id):
            at = chunk.text.find(quote)
            if at >= 0:
                return chunk, at
        return None

    def _abstain(
        self,
        question: str,
        query: str,
        audience: Audience,
        passages: Sequence[Passage],
        frame: Frame,
        reason: str,
        timings: dict[str, float],
        coverage: Coverage | None = None,
        *,
        drafts: Sequence[DocumentInfo] = (),
    ) -> Answer:
        closest = _closest(passages)
        verdict = Verdict((), 0, {"patient": frame.patient.describe()})
        notices = hidden_drafts_notices(drafts)
        markdown = render(
            bottom_line=None,
            statements=(),
            withheld=(),
            citations=(),
            verdict=verdict,
            related=(),
            audience=audience,
            status="no content shown",
            abstention=reason,
            closest=closest,
        )
        if notices:
            markdown = "\n".join(f"> {inline(n)}" for n in notices) + "\n\n" + markdown
        return Answer(
            **self._stamp(question, query, audience, timings),
            verdict=verdict,
            markdown=markdown,
            raw_text="",
            bottom_line=None,
            statements=(),
            withheld=(),
            citations=(),
            passages=tuple(passages),
            related_questions=(),
            abstained=True,
            abstention_reason=reason,
            review_status="no content shown",
            generator=self.generator.name,
            frame=frame,
            coverage=coverage,
            source_notices=tuple(notices),
        )


_MARKER = re.compile(r"\[(\d+)\]")


def _renumber(
    bottom: Statement | None,
    shown: list[Statement],
    withheld: list[Withheld],
    citations: list[Citation],
) -> tuple[Statement | None, list[Statement], list[Withheld], list[Citation]]:
    """Citation numbers 1..n in the order the answer shows them, without the gaps that
    withheld statements leave; citations nothing shown uses are dropped."""
    order: dict[int, int] = {}
    for s in ([bottom] if bottom else []) + shown:
        for n in s.citations:
            order.setdefault(n, len(order) + 1)
    for w in withheld:
        for m in _MARKER.finditer(w.replacement or ""):
            order.setdefault(int(m.group(1)), len(order) + 1)

    def renum(s: Statement) -> Statement:
        return replace(s, citations=tuple(order[n] for n in s.citations))

    def remark(text: str | None) -> str | None:
        if text is None:
            return None
        return _MARKER.sub(lambda m: f"[{order.get(int(m.group(1)), int(m.group(1)))}]", text)

    cited = sorted(
        (replace(c, number=order[c.number]) for c in citations if c.number in order),
        key=lambda c: c.number,
    )
    return (
        renum(bottom) if bottom else None,
        [renum(s) for s in shown],
        [replace(w, replacement=remark(w.replacement)) for w in withheld],
        cited,
    )


def _next_lead(
    shown: Sequence[Statement], citations: Sequence[Citation], passages: Sequence[Passage]
) -> int:
    """Which shown statement leads when the guard withheld the bottom line: as the
    generator's lead was chosen, the first one quoted from the highest-ranked document
    (the strongest remaining one, the first, on a tie). A dose card's lines keep their place."""
    if shown[0].task == "card":
        return 0
    rank = document_ranks(passages)
    docs = {c.number: c.passage.doc.id for c in citations}

    def doc_rank(s: Statement) -> int:
        if s.computed or not s.citations or s.citations[0] not in docs:
            return 1 << 30
        return rank.get(docs[s.citations[0]], 1 << 30)

    return min(range(len(shown)), key=lambda i: (doc_rank(shown[i]), i))


_LIST_JOINER = re.compile(
    r"\s*(?:,|/|\+|&|\band\b|\bor\b|\bvs\.?|\bversus\b)\s*(?:(?:and|or)\s+)?"
    r"(?:(?:sc|iv|oral|po|subcutaneous|intravenous|low[- ]dose|full[- ]dose)\s+)?",
    re.IGNORECASE,
)


def lists_drugs(question: str) -> bool:
    """Whether the question names drugs side by side, joined only by a comma, "and", "or",
    "/" or "vs" (a route or strength word may stand before the next one)."""
    spans = find_drugs(question, drug_lexicon())
    return any(
        _LIST_JOINER.fullmatch(question[a[1] : b[0]])
        for a, b in zip(spans, spans[1:], strict=False)
    )


_MAX_WORD = re.compile(r"\bmax(?:imum|\.)?\b", re.IGNORECASE)


def _with_total(draft: Draft, frame: Frame) -> Draft:
    """A weight-based dose the bottom line quotes ("0.9 mg/kg (maximum total dose: 90 mg)";
    "60 IU/kg IV bolus (max 4,000 IU), then 12 IU/kg/h infusion (max 1,000 IU/h)") worked out
    for the patient's stated weight, each amount capped at the maximum the same quote states
    for it: the computed totals lead, cited to the same source, and the quote follows them.
    Only when the question asks for a dose and the quote states one per-kg amount, or one
    per-kg amount and one per-kg rate after it."""
    from guardrails.extraction import extract

    lead = draft.bottom_line
    if frame.patient.weight_kg is None or lead is None or frame.intent != "dose" or lead.computed:
        return draft
    weight = round(frame.patient.weight_kg, 1)
    mentions, _ = extract(lead.text)
    per_kg = [m for m in mentions if m.amount.per_kg and not m.is_max]
    amounts = [m for m in per_kg if not m.amount.per_time]
    rates = [m for m in per_kg if m.amount.per_time]
    if len(amounts) != 1 or len(rates) > 1 or (rates and rates[0].span[0] < amounts[0].span[0]):
        return draft
    steps = [_worked_out(m, mentions, lead.text, weight) for m in (*amounts, *rates)]
    text = f"For this patient ({weight:g} kg): " + "; then ".join(s for s, _ in steps) + "."
    text += "".join(f" The stated maximum is {cap}." for _, cap in steps if cap)
    # The total for this patient is the answer; the quote it comes from follows it.
    line = Statement(text, lead.citations, lead.section, lead.task, computed=True)
    return replace(draft, bottom_line=line, statements=(lead, *draft.statements))


def _worked_out(
    m: DoseMention, mentions: Sequence[DoseMention], text: str, weight: float
) -> tuple[str, str]:
    """One per-kg amount of a quote for ``weight``, capped at the maximum the quote states
    right after it in the same unit ("60 IU/kg (max 4,000 IU)"), worded as a dose card
    words a computed step: the total, then how it was reached; and the maximum, worded,
    where the total stays below it (else "")."""
    from guardrails.regimens import dose_words

    cap = next(
        (
            x.amount
            for x in mentions
            if not x.amount.per_kg
            and x.amount.unit == m.amount.unit
            and x.amount.per_time == m.amount.per_time
            and x.span[0] > m.span[0]
            and (x.is_max or _MAX_WORD.search(text[m.span[1] : x.span[0]]))
        ),
        None,
    )
    low, high = m.amount.low * weight, m.amount.high * weight
    capped = cap is not None and high > cap.high
    if cap is not None:
        low, high = min(low, cap.high), min(high, cap.high)
    total = replace(m.amount, low=round(low, 1), high=round(high, 1), per_kg=False)
    step = (
        f"{dose_words(total)} ({dose_words(m.amount)} × {weight:g} kg"
        + (", capped at the stated maximum" if capped else "")
        + ")"
    )
    return step, dose_words(cap) if cap is not None and not capped else ""


def _says_no_to(line: Statement | None, drug: str, table: ReferenceTable) -> bool:
    """Whether ``line`` is a "No —" answer about ``drug`` (or a member of its class)."""
    if line is None or not line.text.startswith("No — "):
        return False
    members = set(table.members(drug)) | {drug}
    return any(name in members for _, _, name in find_drugs(line.text, drug_lexicon()))


def _without_doses_of(draft: Draft, cover: Coverage, table: ReferenceTable) -> Draft:
    """A "not covered" draft: no statement that gives the asked drug (or its class) a dose;
    the notice, not a quote, leads."""
    from guardrails.extraction import extract

    drug = cover.drug or ""
    members = set(table.members(drug)) | {drug} if drug else set()
    keep = []
    for s in ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements):
        mentions, unparsed = extract(s.text)
        if any(m.drug in members for m in mentions) or any(u.drug in members for u in unparsed):
            continue
        if any(m.drug is None for m in mentions) and drug.lower() in s.text.lower():
            continue
        keep.append(s)
    return Draft(tuple(keep), draft.citations, None, draft.generator, draft.notes)


def _standard(pop: Population) -> bool:
    """Whether a population is the standard one: no condition, or only the complement of a
    reduced band (normal hepatic function, not on dialysis, CrCl at or above a cut-off)."""
    reduced = (
        pop.crcl_lt is not None
        or pop.weight_lt is not None
        or pop.age_ge is not None
        or pop.dialysis is True
        or pop.hepatic_impairment is True
        or (pop.criteria is not None and pop.criteria.at_least is not None)
    )
    return not reduced


def source_text(p: Passage, products: ProductNames) -> SourceText:
    """A cited passage as the guard reads it: with its title and headings, so a dose whose
    drug is named in an earlier sentence, a list or a heading is judged for that drug, and
    with the product names the corpus gives its document ("Vafseo 300 mg tablets")."""
    return SourceText(
        p.chunk.text,
        p.doc.title,
        p.chunk.section_path,
        p.doc.id,
        p.chunk.id,
        products.of_title(p.doc.title),
    )


def _diverse(
    ranked: Sequence[Passage], k: int, per_doc: int, lead_per_doc: int | None = None
) -> list[Passage]:
    """The top ``k`` passages with at most ``per_doc`` from one document (in rank order).
    The first document may give up to ``lead_per_doc`` (its passages beyond ``per_doc`` come
    on top of ``k``): a management page's steps are the options a management answer lists."""
    out: list[Passage] = []
    count: dict[str, int] = {}
    lead = ranked[0].doc.id if ranked else None
    extra = 0
    for p in ranked:
        most = lead_per_doc if lead_per_doc and p.doc.id == lead else per_doc
        if count.get(p.doc.id, 0) < most:
            out.append(p)
            count[p.doc.id] = count.get(p.doc.id, 0) + 1
            if count[p.doc.id] > per_doc:
                extra += 1
        if len(out) == k + extra:
            break
    return out


RANKED = 50  # passages the first search ranks; the top ones are kept
SECOND_LOOK_DEPTH = 20  # passages the frame's own search ranks
SECOND_LOOK_MOST = 4  # passages a second look may add
COVERAGE_DEPTH = 30  # passages a search for an asked drug's name gives the coverage check
DRUG_LOOK_MOST = 3  # passages naming an asked drug that none of the found ones names

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_NUMBERED = re.compile(r"\S*\d\S*")


def _frame_query(query: str, frame: Frame, table: ReferenceTable) -> str:
    """What the frame reads a question to ask, as a second search query: its drugs, its use
    (or the asked condition) and setting, then the sentences that ask, without the
    patient's numbers ("Recurrent DVT on warfarin with INRs in range. What should I switch
    to?" -> "warfarin <the extended-treatment use> inrs in range What should I switch
    to?"). Empty when the frame names no drug, use or condition: the query alone is then
    all Bedside knows of the question."""
    if not (frame.drugs or frame.indication or frame.condition):
        return ""
    parts = list(frame.drugs)
    if frame.indication:
        parts.append(indication_name(frame.indication, table))
    parts += [x for x in (frame.condition, frame.setting) if x]
    asking = [s for s in _SENTENCE_END.split(query) if "?" in s] or [query]
    parts.append(_NUMBERED.sub(" ", " ".join(asking)))
    return " ".join(" ".join(parts).split())


def _second_look(
    passages: Sequence[Passage],
    ranked: Sequence[Passage],
    second: Sequence[Passage],
    most: int = SECOND_LOOK_MOST,
) -> list[Passage]:
    """The passages, then up to ``most`` of the ranked ones they left out that the second
    search found too, in the first search's order: the chunk holding the answer often ranks
    just below the cut when the question's chatter ("found down, family says...") outweighs
    its drug and use, and a chunk two searches agree on is rarely off topic. The added
    passages rank after the kept ones, so the best-ranked document stays the one the question
    itself found."""
    if not passages:
        return list(passages)
    have = {p.chunk.id for p in passages}
    agreed = {p.chunk.id for p in second}
    extra = [p for p in ranked if p.chunk.id not in have and p.chunk.id in agreed][:most]
    last = max(p.rank for p in passages)
    return [*passages, *(replace(p, rank=last + i + 1) for i, p in enumerate(extra))]


LEAD_DOCUMENT_CHUNKS = 24
# Proposals that do not give a drug: a contraindication does not answer them No.
_NOT_GIVING = frozenset({"stop", "skip", "taper", "lower"})


def _with_lead_document(
    passages: Sequence[Passage],
    retriever: Retriever,
    query: str = "",
    most: int = LEAD_DOCUMENT_CHUNKS,
) -> list[Passage]:
    """The passages, then the rest of the best-ranked document's chunks after them: the
    retriever finds the document a question is about more reliably than the one chunk
    holding its answer (a table row, a list under another heading), and answer units are
    chosen by what they say, not where they stand. A document longer than ``most`` chunks
    gives the ``most`` that share the most of the query's words. The added chunks rank after
    every retrieved one, in the document's order."""
    if not passages:
        return list(passages)
    majority = majority_document(passages)
    lead = min((p for p in passages if majority in (None, p.doc.id)), key=lambda p: p.rank)
    have = {p.chunk.id for p in passages}
    chunks = [c for c in retriever.chunks_of(lead.doc.id) if c.id not in have]
    if len(chunks) > most:
        words = set(tokenize(query))
        shared = {c.id: len(words & set(tokenize(c.text))) for c in chunks}
        keep = set(sorted(shared, key=lambda i: -shared[i])[:most])
        chunks = [c for c in chunks if c.id in keep and shared[c.id] > 0]
    last = max(p.rank for p in passages)
    added = [Passage(chunk, lead.doc, 0.0, last + i + 1) for i, chunk in enumerate(chunks)]
    return [*passages, *added]


def _guideline_first(
    ranked: Sequence[Passage], k: int, want: int = 2, kind: str = "guideline"
) -> list[Passage]:
    """The top ``k`` passages, plus guideline passages (or those of ``kind``) from further
    down when the top ``k`` hold fewer than ``want``: answers lead with guideline evidence
    (and a hospital's own protocol) when the corpus has any on the question. Further down,
    one on the same topic as the best passage (its title shares the most words with that
    passage's title and section) is preferred."""
    top = list(ranked[:k])
    have = sum(p.doc.source_type == kind for p in top)
    if have >= want or not top:
        return top
    lead = set(tokenize(" ".join((top[0].doc.title, *top[0].chunk.section_path))))

    def topical(p: Passage) -> float:
        title = set(tokenize(p.doc.title))
        return len(title & lead) / len(title | lead) if title else 0.0

    ids = {p.chunk.id for p in top}
    later = [p for p in ranked[k:] if p.doc.source_type == kind and p.chunk.id not in ids]
    later.sort(key=lambda p: (-topical(p), p.rank))
    return top + later[: want - have]


_TYPED = re.compile(r"[A-Za-z]{5,}")
_LETTER = re.compile(r"[^\W\d_]")


def _with_variants(query: str, vocabulary: Vocabulary) -> str:
    """The query with the other spelling of a word the corpus does not write as typed but
    does in the other spelling ("hypoglycaemia" -> hypoglycemia; frame.yaml
    ``spelling_variants``) added after it."""
    from retrieval.tokenize import tokenize as _tok

    extra: list[str] = []
    for word in _TYPED.findall(query):
        low = word.lower()
        if len(low) < 5:
            continue
        own = _tok(low)
        if own and vocabulary.knows(own[0]):
            continue  # a spelling the corpus writes already finds its passages
        for pattern, repl in spelling_variants():
            other = pattern.sub(repl, low)
            if other == low:
                continue
            tokens = _tok(other)
            if tokens and tokens != own and vocabulary.knows(tokens[0]) and other not in extra:
                extra.append(other)
    return f"{query} {' '.join(extra)}" if extra else query


def _with_corrections(query: str, vocabulary: Vocabulary) -> str:
    """The query with the corpus' spelling of words it does not know ("mteoprolol" ->
    metoprolol) added after it; the words as typed stay."""
    from retrieval.tokenize import tokenize as _tok

    fixes = []
    english = common_words()
    for word in _TYPED.findall(query):
        tokens = _tok(word)
        if not tokens or vocabulary.knows(tokens[0]) or word.lower() in english:
            continue  # a word the sources or English know is no typing slip ("capital")
        near = vocabulary.closest_term(tokens[0], 80.0)
        if near and near not in fixes:
            fixes.append(near)
    return f"{query} {' '.join(fixes)}" if fixes else query


def _spellings(question: str, frame: Frame, vocabulary: Vocabulary) -> str:
    """``question`` with each word the corpus does not know replaced by the drug name it is
    a typing slip of (one swapped, missing, extra or wrong letter; two in a long name):
    "what is a safe dosage for gabaepntin" -> "... for gabapentin"; a word of the asked
    condition or setting by the word one typing slip away whose stem the corpus knows
    ("mild Alzheimer disesae" -> "... disease"), so the frame reads the condition as the
    sources write it. Other words, and words English has ("capital" is no slip of
    "cavit"), stay as typed."""
    from retrieval.tokenize import tokenize as _tok

    asked = {
        w.lower() for w in _TYPED.findall(" ".join(filter(None, (frame.condition, frame.setting))))
    }

    def fix(m: re.Match[str]) -> str:
        word = m.group()
        tokens = _tok(word)
        if not tokens or vocabulary.knows(tokens[0]) or find_drugs(word, drug_lexicon()):
            return word
        found = _misspelt_drug(word.lower())
        if found is None and word.lower() in asked and word.lower() not in common_words():
            found = _corpus_spelling(word, tokens[0], vocabulary)
        return found or word

    return _TYPED.sub(fix, question)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _corpus_spelling(word: str, token: str, vocabulary: Vocabulary) -> str | None:
    """The word one typing slip from ``word`` whose stem is the indexed stem one slip from
    ``token`` (its stem), letters swapped or one wrong before one missing or extra; None
    when there is none."""
    from retrieval.tokenize import _stem

    near = vocabulary.closest_term(token)
    if not near or _slips(token, near, 1) > 1:
        return None
    w = word.lower()
    splits = [(w[:i], w[i:]) for i in range(len(w) + 1)]
    same_length = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    same_length += [a + c + b[1:] for a, b in splits if b for c in _LETTERS if c != b[0]]
    other = [a + b[1:] for a, b in splits if b] + [a + c + b for a, b in splits for c in _LETTERS]
    for group in (same_length, other):
        hits = sorted({e for e in group if _stem(e) == near})
        if hits:
            fixed = hits[0]
            return fixed.capitalize() if word[:1].isupper() else fixed
    return None


@lru_cache(maxsize=1)
def _drug_words() -> dict[tuple[str, int], tuple[str, ...]]:
    """One-word drug names of five letters or more, by first letter and length."""
    out: dict[tuple[str, int], list[str]] = {}
    for words in drug_lexicon().names:
        if len(words) == 1 and words[0].isalpha() and len(words[0]) >= 5:
            out.setdefault((words[0][0], len(words[0])), []).append(words[0])
    return {k: tuple(v) for k, v in out.items()}


def _misspelt_drug(word: str) -> str | None:
    """The one drug name ``word`` is a typing slip of, or None (none, or several)."""
    most = 2 if len(word) >= 9 else 1
    found: dict[str, int] = {}
    for n in range(len(word) - most, len(word) + most + 1):
        for name in _drug_words().get((word[:1], n), ()):
            d = _slips(word, name, most)
            if d <= most:
                found[name] = d
    if not found:
        return None
    best = min(found.values())
    names = [n for n, d in found.items() if d == best]
    return names[0] if len(names) == 1 else None


def _slips(a: str, b: str, most: int) -> int:
    """Typing slips between two words (optimal string alignment distance), or more than
    ``most`` once it is exceeded."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > most:
            return most + 1
        prev2, prev = prev, cur
    return prev[-1]


def _all_known(word: str, vocabulary: Vocabulary) -> bool:
    from retrieval.tokenize import tokenize as _tok

    tokens = _tok(word)
    return not tokens or all(vocabulary.knows(t) for t in tokens)


def _frame_words(frame: Frame, table: ReferenceTable) -> str:
    """The question as its frame reads it: drugs, use, condition and intent."""
    parts = list(frame.drugs)
    if frame.indication:
        parts.append(indication_name(frame.indication, table))
    parts += [x for x in (frame.condition, frame.setting) if x]
    parts.append(
        {"dose": "dose", "choice": "management", "monitoring": "monitoring"}.get(frame.intent, "")
    )
    return " ".join(p for p in parts if p) or frame.intent


def _guard_context(
    frame: Frame, history: Sequence[Turn], question: str, table: ReferenceTable
) -> str:
    """What the guard reads the question's use and patient from: the use Bedside understood
    (a clot "despite prophylaxis" is treated, so prophylaxis doses do not judge it), then the
    conversation's own words."""
    use = ". ".join(indication_name(i, table) for i in sorted(frame.indications))
    turns = [t.content for t in history if t.role == "user"] + [question]
    said = " ".join(turns)
    if frame.indications:
        # The words that named another use must not be read again.
        from assistant.frame import without_use_words

        said = without_use_words(said)
    return f"{use}. {said}" if use else said


def _closest(passages: Sequence[Passage]) -> list[str]:
    out: list[str] = []
    for p in passages:
        line = " · ".join(str(x) for x in (p.doc.title, p.doc.organization, p.doc.year) if x)
        if line not in out:
            out.append(line)
        if len(out) == 3:
            break
    return out


def _withheld_notice(withheld: Sequence[Withheld]) -> str | None:
    """The abstention when every sentence was withheld, saying why: the dose check only
    when a dose finding blocked one."""
    if not withheld:
        return None
    dose = sum(w.why == "dose_check" for w in withheld)
    unsupported = len(withheld) - dose
    if not unsupported:
        return (
            "Every sentence Bedside found for this question was withheld by the dose check "
            "(below), so nothing is quoted."
        )
    if not dose:
        return (
            "Every sentence written for this question was withheld because no source "
            "supports it (below), so nothing is quoted."
        )
    return (
        f"Every sentence written for this question was withheld (below): {dose} by the dose "
        f"check and {unsupported} because no source supports them, so nothing is quoted."
    )


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _disclaimer(audience: Audience) -> str:
    from assistant.render import DISCLAIMER, PATIENT_DISCLAIMER

    return PATIENT_DISCLAIMER if audience == "patient" else DISCLAIMER


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def event_json(event: Event) -> dict[str, Any]:
    """The JSON form of a streamed event: ``statement`` (text, citations, section, task,
    bottom_line), ``notice`` (text), and the last, ``answer`` (``answer_json``)."""
    if isinstance(event, StatementEvent):
        return {
            "event": "statement",
            "text": event.text,
            "citations": [c.to_json() for c in event.citations],
            "section": event.section,
            "task": event.task,
            "bottom_line": event.bottom_line,
        }
    if isinstance(event, NoticeEvent):
        return {"event": "notice", "text": event.text}
    return {"event": "answer", "answer": answer_json(event.answer)}


def answer_json(answer: Answer) -> dict[str, Any]:
    """The stable JSON form of an answer (API, `bedside ask --json`, evals)."""
    return {
        "answer_id": answer.answer_id,
        "question": answer.question,
        "standalone_query": answer.standalone_query,
        "audience": answer.audience,
        "abstained": answer.abstained,
        "abstention_reason": answer.abstention_reason,
        "bottom_line": answer.bottom_line.text if answer.bottom_line else None,
        "statements": [
            {
                "text": s.text,
                "citations": list(s.citations),
                "section": s.section,
                "task": s.task,
                "computed": s.computed,
                "attributed": s.attributed,
            }
            for s in ([answer.bottom_line] if answer.bottom_line else []) + list(answer.statements)
        ],
        "withheld": [
            {
                "text": w.statement.text,
                "why": w.why,
                "reasons": list(w.reasons),
                "replacement": w.replacement,
            }
            for w in answer.withheld
        ],
        "citations": [c.to_json() for c in answer.citations],
        "verdict": {
            "allowed": answer.verdict.allowed,
            "checked_doses": answer.verdict.checked_doses,
            "findings": [f.to_json() for f in answer.verdict.findings],
        },
        "frame": answer.frame.to_json() if answer.frame else None,
        "coverage": answer.coverage.to_json() if answer.coverage else None,
        "dose_card": answer.dose_card.to_json() if answer.dose_card else None,
        "related_questions": list(answer.related_questions),
        "review_status": answer.review_status,
        "source_notices": list(answer.source_notices),
        "notes": list(answer.notes),
        "disclaimer": answer.disclaimer,
        "markdown": answer.markdown,
        "raw_text": answer.raw_text,
        "generator": answer.generator,
        "passages": [p.to_json() for p in answer.passages],
        "timings_ms": answer.timings_ms,
        "settings_digest": answer.settings_digest,
        "index_digest": answer.index_digest,
    }
