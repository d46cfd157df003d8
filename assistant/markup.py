"""Source and generator text made inert for display, at the output edge.

Stored chunks, the statements the generator returns and the text the guard checks stay
verbatim; only what is shown is rewritten, and only by escaping, so a reader sees the
characters the guard read:

- No raw HTML: ``<`` before a tag name, ``/``, ``!`` or ``?`` is written ``&lt;``; ``&``
  before a letter or ``#`` (an entity, with or without its ``;``) is written ``&amp;``
  (``&#53;0 mg`` is shown as written, never decoded).
- No images and no links from the text: ``[``, ``]``, ``\\`` and backticks are
  backslash-escaped, and the triggers of GFM autolinks (``scheme://``, ``www.``, an ``@``
  inside a word) are broken with a backslash that renders as nothing. The one exception is
  a Markdown link ``[label](url)`` (never an image) whose url is http(s) on an allowed host:
  the hosts of the cited sources' own ``url`` fields and ``assistant.link_hosts``.
- Characters that render as nothing (Unicode format characters: zero-width spaces and
  joiners, bidi overrides, BOM) are dropped, as the guard drops them before reading;
  control characters (terminal escapes) are shown as U+FFFD; line breaks become spaces, so
  a sentence cannot open a heading, a list or a reference definition of its own.

Emphasis (``*``, ``_``) is left live: quotes are shown with their Markdown emphasis.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from urllib.parse import quote, urlsplit, urlunsplit

SCHEMES = frozenset({"http", "https"})

_ESCAPE = re.compile(
    r"(?P<bs>[\\`\[\]])"
    r"|(?P<tag><)(?=[A-Za-z/!?])"
    # An HTML parser decodes some entities without their ";" ("&frac12" is "½").
    r"|(?P<ent>&)(?=[#A-Za-z])"
    r"|(?<=[A-Za-z0-9])(?P<colon>:)(?=//)"
    r"|(?<![\w.])(?P<www>www)(?=\.)"
    r"|(?<=\w)(?P<at>@)(?=\w)"
)
# A Markdown inline link with an optional title; an image is the same after a "!".
_LINK = re.compile(
    r"(?P<bang>!?)\[(?P<label>[^\[\]\n]{1,300})\]"
    r"\([ \t]*<?(?P<url>[^()\s<>]{1,2000})>?(?:[ \t]+\"[^\"\n]{0,300}\")?[ \t]*\)"
)
_BREAKS = re.compile(r"[ \t]*(?:\r\n|[\r\n\u2028\u2029\x85])[ \t]*")
# Everything percent-encoded in a link destination except what a URL needs; no quotes,
# brackets, parentheses, spaces or backslashes survive into the Markdown.
_URL_SAFE = "/:?#&=%+-._~!$,;@*"


def _visible(ch: str) -> str:
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return ""
    if cat == "Cc" and ch not in "\t\n\r":
        return "\ufffd"
    return ch


def visible(text: str) -> str:
    """``text`` without format characters and with control characters shown as U+FFFD
    (for a terminal: no escape sequence from a source reaches it)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_visible(ch) for ch in text)


def _escape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "tag":
            return "&lt;"
        if kind == "ent":
            return "&amp;"
        if kind == "www":
            return "www\\"  # "www\." renders "www." and is no autolink
        return "\\" + m.group(0)

    return _ESCAPE.sub(one, text)


def safe_url(url: str, hosts: Collection[str]) -> str | None:
    """``url`` as a Markdown link destination when it is http(s) to one of ``hosts`` (no
    credentials, no odd characters), else None."""
    if not url or len(url) > 2000 or any(not ch.isprintable() or ch.isspace() for ch in url):
        return None
    if "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in SCHEMES or not host or "@" in parts.netloc:
        return None
    if host.lower() not in hosts:
        return None
    return urlunsplit(
        (
            parts.scheme.lower(),
            parts.netloc.lower(),
            quote(parts.path, safe=_URL_SAFE),
            quote(parts.query, safe=_URL_SAFE),
            quote(parts.fragment, safe=_URL_SAFE),
        )
    )


def link_hosts(urls: Iterable[str | None], extra: Iterable[str] = ()) -> frozenset[str]:
    """The hosts links may point to: those of ``urls`` (the sources' own url fields) that
    are http(s), and ``extra`` (a setting)."""
    hosts = {h.strip().lower() for h in extra if h.strip()}
    for url in urls:
        if not url:
            continue
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme.lower() in SCHEMES and host and "@" not in parts.netloc:
            hosts.add(host.lower())
    return frozenset(hosts)


def inline(text: str, hosts: Collection[str] = ()) -> str:
    """Untrusted text as inert inline Markdown: escaped, one line, links kept only when
    allowed (see the module docstring)."""
    text = _BREAKS.sub(" ", visible(text))
    out: list[str] = []
    at = 0
    for m in _LINK.finditer(text):
        url = None if m.group("bang") else safe_url(m.group("url"), hosts)
        if url is None:
            continue
        out += [_escape(text[at : m.start()]), f"[{_escape(m.group('label'))}]({url})"]
        at = m.end()
    out.append(_escape(text[at:]))
    return "".join(out)


def source_link(url: str | None, hosts: Collection[str]) -> str:
    """A source's url field as a Markdown link showing the url itself, or as inert text
    when it is not an allowed http(s) url."""
    if not url:
        return ""
    safe = safe_url(url, hosts)
    return f"[{inline(url)}]({safe})" if safe else inline(url)
