"""Bedside's exception tree.

Messages are written for the person at the keyboard: what was wrong, where, and what
to do about it. Every package raises these (or a child) instead of bare exceptions.
"""

from __future__ import annotations


class BedsideError(Exception):
    """Base class of every error Bedside raises on purpose."""


class CorpusError(BedsideError):
    """A corpus source could not be read at all."""


class RecordError(CorpusError):
    """One record (file, line) of a corpus source is bad; the rest can still be used."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}")


class IndexStoreError(BedsideError):
    """An index on disk is missing, corrupt, or does not match the settings."""


class StaleIndexError(IndexStoreError):
    """The index on disk was built from a different corpus or embedder."""


class UnreachableError(IndexStoreError):
    """The shared database could not be reached: nothing is known about the index in it."""


class ConfigError(BedsideError):
    """A setting or a command-line value is invalid."""


class InputError(BedsideError):
    """A question or other user input cannot be processed as given."""


class StorageError(BedsideError):
    """A record (feedback, audit line) could not be written; nothing was stored."""
