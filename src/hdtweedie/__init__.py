"""hdtweedie: Tweedie lasso and grouped elastic net, reproducing R HDtweedie, for pricing.

The estimators load lazily so that ``hdtweedie.scoring`` (numpy and the
standard library only) can be imported without scikit-learn or scipy.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["HDTweedie", "HDTweedieCV", "TweedieGLM", "FactorEncoder", "ConvergenceWarning",
           "OffsetWarning", "coef_series", "__version__"]

_LAZY = {
    "HDTweedie": "._estimator",
    "coef_series": "._estimator",
    "HDTweedieCV": "._cv",
    "TweedieGLM": "._glm",
    "FactorEncoder": "._encoder",
    "ConvergenceWarning": "._path",
    "OffsetWarning": "._estimator",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'hdtweedie' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
