"""Writing a composite model file from its parts: ``compose_models``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ._composite import CompositeModel
from ._composite_file import FREQUENCY, build_composite
from ._files import DEFAULT_MAX_BYTES, write_shared
from ._format import document_text
from ._load import load_model
from ._model import ScoringModel

__all__ = ["compose_models"]


def _part(model: object, role: str, max_bytes: int) -> ScoringModel:
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, max_bytes=max_bytes)
    if isinstance(model, CompositeModel):
        raise TypeError(f"{role}: compose single models, got the composite {model.source!r}")
    if not isinstance(model, ScoringModel):
        raise TypeError(f"{role} must be a ScoringModel or a model file path, got {type(model).__name__}")
    return model


def compose_models(path, frequency, severity, *, steps=None, model_id="pure_premium", version="1",
                   sign_key=None, key_id=None, max_bytes=DEFAULT_MAX_BYTES) -> CompositeModel:
    """Write a composite model file: frequency x severity (x further steps), whole or not at all.

    The composite predicts ``exposure * frequency(x) * severity(x) * ...``:
    a pure premium from a claim-frequency model (the exposure applies to it)
    and a claim-severity model (per claim).  Each part is embedded whole,
    with its own hash and signature; the composite gets its own hash (and
    signature) over everything.

    Parameters
    ----------
    path : str or os.PathLike
        The composite file to write.
    frequency, severity : ScoringModel, str or os.PathLike
        The parts, loaded or as model files (loaded and checked here).
    steps : mapping, optional
        Further multiplicative parts by role (lower-case names such as
        ``{"inflation": model}``), scored per unit like the severity.
    model_id, version : str
        Identify the composite.
    sign_key : bytes or Ed25519PrivateKey, optional
        Sign the composite (see :func:`sign_model_file`).
    key_id : str, optional
        Name of the signing key, recorded in the file.
    max_bytes : int
        Largest part file read (as in :func:`load_model`).

    Returns
    -------
    CompositeModel
        The file written, loaded back (and verified with ``sign_key``).

    Raises
    ------
    TypeError
        For a part that is not a single model, or ``steps`` not a mapping.
    ValueError
        For an empty ``model_id`` or ``version``, or a role used twice.
    ModelFileError
        For a part file that does not load, or parts that cannot be scored
        together (an input a factor in one and numeric in another, a factor
        without a level in common).
    OSError
        If ``path`` cannot be written; an existing file is then left as it was.
    """
    steps = {} if steps is None else steps
    if not isinstance(steps, Mapping):
        raise TypeError(f"steps must be a mapping of role to model, got {type(steps).__name__}")
    named = [(FREQUENCY, frequency), ("severity", severity), *steps.items()]
    roles = [role for role, _ in named]
    if len(set(roles)) != len(roles):
        raise ValueError(f"steps: each role may be used once, got {roles}")
    parts = [(role, _part(model, role, max_bytes).document) for role, model in named]
    document = build_composite(parts, model_id, version, sign_key=sign_key, key_id=key_id)
    write_shared(path, document_text(document))
    return load_model(path, sign_key, max_bytes=max_bytes)
