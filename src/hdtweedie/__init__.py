"""hdtweedie: Tweedie lasso and grouped elastic net, reproducing R HDtweedie, for pricing."""

from ._estimator import HDTweedie, coef_series
from ._path import ConvergenceWarning

__version__ = "0.1.0"

__all__ = ["HDTweedie", "HDTweedieCV", "FactorEncoder", "ConvergenceWarning", "coef_series",
           "__version__"]


def __getattr__(name):
    # The CV estimator and the encoder live in modules built separately; import lazily.
    if name == "HDTweedieCV":
        from ._cv import HDTweedieCV
        return HDTweedieCV
    if name == "FactorEncoder":
        from ._encoder import FactorEncoder
        return FactorEncoder
    raise AttributeError(f"module 'hdtweedie' has no attribute {name!r}")
