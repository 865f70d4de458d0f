"""The pricing sign-off report: one self-contained HTML page per model and data set.

:func:`build_report` gathers the model card, the coefficient table with its
intervals, the factor tests and fit statistics (:mod:`hdtweedie.inference`,
for unpenalised fits), a factor chart per rating factor, actual vs expected
by every column, lift, double lift, the Lorenz curve and the Gini;
:func:`write_report` writes it atomically.  Needs matplotlib.
"""

from ._build import build_report, write_report

__all__ = ["build_report", "write_report"]
