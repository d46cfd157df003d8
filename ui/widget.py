"""Embedding the chat in the clinical intranet: an iframe, or gradio's ``<gradio-app>`` web
component loaded from Bedside's own copy of ``gradio.js`` (served at /chat/gradio.js).

The web component adds gradio's main stylesheet to the host page as ``./assets/index-….css``
resolved against the chat server's origin, not against /chat/: Bedside serves gradio's own
stylesheets at /assets/ too (``frontend_css``), so the embedded chat is styled and the host
page's console shows no 404."""

from __future__ import annotations

import html
from pathlib import Path

from ui.gradio_env import gr

GRADIO_JS = Path(gr.__file__).resolve().parent / "templates" / "frontend" / "gradio.js"
FRONTEND_ASSETS = GRADIO_JS.parent / "assets"


def frontend_css(name: str) -> Path | None:
    """gradio's stylesheet ``name`` from the gradio wheel, or None: only a plain ``.css`` file
    name of that folder (no path, nothing else of the wheel)."""
    if not name.endswith(".css") or Path(name).name != name or name.startswith("."):
        return None
    path = FRONTEND_ASSETS / name
    return path if path.is_file() else None


def iframe_snippet(base_url: str) -> str:
    base = base_url.rstrip("/")
    return (
        f'<iframe src="{html.escape(base)}/chat/" title="Bedside" '
        'style="width:100%;height:900px;border:0" loading="lazy"></iframe>'
    )


def component_snippet(base_url: str) -> str:
    base = html.escape(base_url.rstrip("/"))
    return (
        f'<script type="module" src="{base}/chat/gradio.js"></script>\n'
        f'<gradio-app src="{base}/chat/" eager="true" container="false" '
        'info="false"></gradio-app>'
    )


def demo_page(base_url: str, *, heading: str = "Clinical intranet (demo host page)") -> str:
    """A host page that embeds Bedside twice: as an iframe and as the web component. Served
    at /widget-demo; the same page served from another origin shows cross-origin embedding."""
    iframe = iframe_snippet(base_url)
    component = component_snippet(base_url)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(heading)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 16px; }}
pre {{ background: #f4f4f4; padding: 8px; overflow-x: auto; }}
section {{ margin-bottom: 32px; }}
</style>
</head>
<body>
<h1>{html.escape(heading)}</h1>
<p>Bedside embedded from <code>{html.escape(base_url)}</code>. The origin of this page must be
listed in <code>server.frame_ancestors</code> (for the iframe) and
<code>server.cors_origins</code> (for the web component).</p>
<section id="web-component">
<h2>Web component</h2>
<pre>{html.escape(component)}</pre>
{component}
</section>
<section id="iframe">
<h2>Iframe</h2>
<pre>{html.escape(iframe)}</pre>
{iframe}
</section>
</body>
</html>
"""
