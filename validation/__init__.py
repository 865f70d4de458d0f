"""Validation of hdtweedie against reference fits of the R package HDtweedie.

Run ``python -m validation`` from the repository root; see ``validation/README.md``.
The comparison logic lives in :mod:`validation.compare`.
"""

from .compare import (
    DEFAULT_REFERENCE,
    DEFAULT_SHARED,
    PARAM_MAP,
    TOL,
    ReferenceCase,
    compare_case,
    compare_coef_s,
    compare_cv,
    compare_error,
    compare_path,
    discover_cases,
    estimator_params,
    fit_path,
    format_report,
    load_case,
    main,
    max_rel_diff,
    run_all,
)

__all__ = [
    "DEFAULT_REFERENCE",
    "DEFAULT_SHARED",
    "PARAM_MAP",
    "TOL",
    "ReferenceCase",
    "compare_case",
    "compare_coef_s",
    "compare_cv",
    "compare_error",
    "compare_path",
    "discover_cases",
    "estimator_params",
    "fit_path",
    "format_report",
    "load_case",
    "main",
    "max_rel_diff",
    "run_all",
]
