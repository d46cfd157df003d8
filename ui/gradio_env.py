"""Import gradio only through here: the offline switches are set before gradio is imported,
so no analytics ping or Hub lookup can ever start, whatever the caller's environment."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
os.environ.update(OFFLINE_ENV)

import gradio as gr  # noqa: E402

__all__ = ["OFFLINE_ENV", "gr"]
