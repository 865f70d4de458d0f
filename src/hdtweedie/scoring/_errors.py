"""The exception and warning classes of the scorer."""

from __future__ import annotations

__all__ = ["ModelFileError", "ScoringInputWarning"]


class ModelFileError(ValueError):
    """A model file is unreadable, hostile, tampered with, or does not match the schema."""


class ScoringInputWarning(UserWarning):
    """Some inputs were scored with a caveat (out of range, unseen level, ...)."""
