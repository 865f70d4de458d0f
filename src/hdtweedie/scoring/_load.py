"""Loading and signing model files: the only way to a ScoringModel."""

from __future__ import annotations

import os

from ._composite import CompositeModel  # composite files (frequency x severity), by their kind
from ._composite_file import is_composite, validate_composite
from ._errors import ModelFileError
from ._files import DEFAULT_MAX_BYTES, read_bounded, write_shared
from ._format import (
    document_text,
    parse_document,
    sign_document,
    validate_document,
    verify_header,
    verify_signature,
)
from ._model import ScoringModel

__all__ = ["check_document", "load_model", "sign_model_file"]


def check_document(document: object, name: str) -> None:
    """Check a parsed model file: header and hash, then the schema of its kind.

    Parameters
    ----------
    document : object
        Parsed model file.
    name : str
        Name of the file, for messages.

    Raises
    ------
    ModelFileError
    """
    verify_header(document, name)
    if is_composite(document):
        validate_composite(document, name)
        return
    try:
        validate_document(document)
    except ModelFileError as exc:
        raise ModelFileError(f"{name!r}: {exc}") from None


def _read_document(path, max_bytes: int) -> tuple:
    """Read, parse and check a model file; return ``(document, name)``."""
    name = os.fspath(path)
    document = parse_document(read_bounded(name, max_bytes), name)
    check_document(document, name)
    return document, name


def load_model(path, key=None, *, algorithm=None, max_bytes=DEFAULT_MAX_BYTES):
    """Load and verify an exported model file.

    The file must be a regular file of at most ``max_bytes`` bytes, valid
    JSON in the ``hdtweedie-model`` format, carry a supported schema version
    (1.x), have an intact SHA-256 of its canonical content, match the shipped
    JSON Schema, be internally consistent, and keep the linear predictor
    below 700 over its training ranges.

    The SHA-256 detects accidental damage only: anyone who edits the file can
    recompute it.  To detect deliberate edits, sign files (``export(...,
    sign_key=...)`` or :func:`sign_model_file`) and load them with ``key``.

    Parameters
    ----------
    path : str or os.PathLike
        Model file written by ``export``.
    key : bytes, Ed25519PublicKey or Ed25519PrivateKey, optional
        Verify the file's signature: bytes are an HMAC-SHA256 shared secret;
        an Ed25519 key object (from ``cryptography``) verifies Ed25519.  With
        a key, an unsigned file, a file signed with the other algorithm, and
        a wrong signature are refused.  Without one, a signature is not checked.
    algorithm : {"hmac-sha256", "ed25519"}, optional
        Needed only to pass a raw 32-byte Ed25519 public key as bytes
        (bytes otherwise mean an HMAC secret).  The algorithm always comes
        from the caller, never from the file.
    max_bytes : int
        Largest file accepted (default 16 MiB), so that a hostile file cannot
        exhaust memory or time.

    Returns
    -------
    ScoringModel or CompositeModel
        A :class:`CompositeModel` for a composite file (``"kind":
        "composite"``, written by :func:`compose_models`), whose every part
        is checked as a model file of its own; ``key`` verifies the
        composite's signature, which covers the parts.

    Raises
    ------
    ModelFileError
        If the file is not a regular file, too large, truncated, corrupted,
        nested too deeply, tampered with, wrongly signed, of another format or
        schema version, or its scores could overflow, with a message saying which.
    ImportError
        For an Ed25519 key without the ``cryptography`` package.
    """
    document, name = _read_document(path, max_bytes)
    if key is not None:
        verify_signature(document, key, algorithm, name)
    built = CompositeModel if is_composite(document) else ScoringModel
    return built._build(document, name, key is not None)


def sign_model_file(path, key, *, key_id=None, algorithm=None, max_bytes=DEFAULT_MAX_BYTES):
    """Sign a model file in place (replacing any signature), whole or not at all.

    The file is checked as by :func:`load_model` (its hash must be intact)
    before it is signed; sign only files whose origin you trust.

    Parameters
    ----------
    path : str or os.PathLike
        Model file written by ``export``.
    key : bytes or Ed25519PrivateKey
        Bytes sign with HMAC-SHA256 (a shared secret of at least 16 bytes); an
        Ed25519 private key (from ``cryptography``) signs with Ed25519.
    key_id : str, optional
        Name of the key, recorded in the file and covered by the signature.
    algorithm : {"hmac-sha256", "ed25519"}, optional
        Needed only for a raw 32-byte Ed25519 private key given as bytes.
    max_bytes : int
        As in :func:`load_model`.

    Returns
    -------
    dict
        The signed document written.

    Raises
    ------
    ModelFileError
        If the file does not load.
    TypeError, ValueError, ImportError
        For an unusable key or key id.
    """
    document, name = _read_document(path, max_bytes)
    signed = sign_document(document, key, key_id=key_id, algorithm=algorithm)
    write_shared(name, document_text(signed))
    return signed
