"""Score exported hdtweedie models with numpy and the standard library only.

A model file written by :meth:`HDTweedie.export` (or
:func:`hdtweedie._export.export_model`) holds everything needed to price a
risk: the intercept, the coefficients by feature name, the rating factors with
their levels and base levels, and the training ranges of numeric inputs.  This
package loads such a file and scores, explains and compares risks with it.  It
imports numpy and the standard library only, so a pricing service can depend
on it without scikit-learn or scipy.

The model is a log-link GLM::

    prediction = exposure * exp(b0 + x . b)

so every quantity is exact arithmetic on that formula: ``explain`` splits the
linear predictor into one additive term per input (a multiplicative
relativity on the response scale), and ``compare`` splits the log-ratio of two
predictions into the same terms.

Integrity and authenticity: the file's ``sha256`` detects accidental damage
(truncation, a bad copy, an edit that forgot the hash) but anyone can
recompute it after an edit.  A signature (HMAC-SHA256 with a shared secret,
or Ed25519 with the optional ``cryptography`` package) covers the content and
its hash; ``load_model(path, key=...)`` refuses unsigned or wrongly signed
files, so a verified file is the one the key holder signed.

A composite file (:func:`compose_models`) multiplies whole model files, a
claim frequency and a claim severity (and further steps) into a pure
premium; ``load_model`` returns a :class:`CompositeModel` for it.
"""

from ._compose import compose_models
from ._composite import CompositeExplanation, CompositeModel
from ._composite_file import composite_schema
from ._errors import ModelFileError, ScoringInputWarning
from ._files import DEFAULT_MAX_BYTES
from ._format import (
    FORMAT_NAME,
    MAX_LINK,
    SCHEMA_VERSION,
    SIGNATURE_ALGORITHMS,
    canonical_json,
    content_hash,
    model_schema,
    validate_document,
)
from ._levels import level_key
from ._load import load_model, sign_model_file
from ._model import ScoringModel
from ._results import Comparison, Explanation, Prediction, ScoringIssue

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMAT_NAME",
    "MAX_LINK",
    "SCHEMA_VERSION",
    "SIGNATURE_ALGORITHMS",
    "Comparison",
    "CompositeExplanation",
    "CompositeModel",
    "Explanation",
    "ModelFileError",
    "Prediction",
    "ScoringInputWarning",
    "ScoringIssue",
    "ScoringModel",
    "canonical_json",
    "compose_models",
    "composite_schema",
    "content_hash",
    "level_key",
    "load_model",
    "model_schema",
    "sign_model_file",
    "validate_document",
]
