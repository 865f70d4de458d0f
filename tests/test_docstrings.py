"""Every public function, class and method has a numpydoc docstring matching its signature.

Public means: the names in ``hdtweedie.__all__`` and ``hdtweedie.scoring.__all__``,
and in every other public module (no leading underscore in its dotted name) the
names in its ``__all__``, or else its non-underscore functions and classes
defined there; for each class its non-underscore methods and properties defined
in hdtweedie (not those inherited from scikit-learn or the standard library).

Rules (numpydoc): a summary line; a ``Parameters`` section naming exactly the
signature's parameters in order (``self``/``cls`` excluded, ``*args``/``**kwargs``
written with or without their stars); a class documents its ``__init__``
parameters; a ``Returns`` (or ``Yields``) section when the code returns a value.
One test lists every offender at once.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
import warnings

import pytest
from numpydoc import docscrape  # in the test extra

import hdtweedie

# Modules whose import needs an optional dependency of the test extra.
ENTRY_POINTS = {"hdtweedie.__main__"}


def public_modules() -> list:
    """Names of hdtweedie's public modules, the package itself first."""
    names = ["hdtweedie"]
    for info in pkgutil.walk_packages(hdtweedie.__path__, "hdtweedie."):
        if info.name in ENTRY_POINTS or any(p.startswith("_") for p in info.name.split(".")[1:]):
            continue
        names.append(info.name)
    return names


def _own(obj, module) -> bool:
    return getattr(obj, "__module__", "") == module.__name__


def public_objects() -> tuple:
    """``{qualified name: object}`` for every public function and class, and import problems."""
    found, errors = {}, []
    for name in public_modules():
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: cannot be imported ({exc})")
            continue
        exported = getattr(module, "__all__", None)
        if exported is None:
            exported = [n for n, obj in vars(module).items()
                        if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                        and _own(obj, module)]
        for attr in exported:
            obj = getattr(module, attr, None)
            if obj is None:
                errors.append(f"{name}.{attr}: listed in __all__ but missing")
            elif inspect.isfunction(obj) or inspect.isclass(obj):
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found, errors


def _from_hdtweedie(obj) -> bool:
    return getattr(obj, "__module__", "").split(".")[0] == "hdtweedie"


def class_members(cls) -> dict:
    """Public methods and properties of ``cls`` defined in hdtweedie (its own or inherited)."""
    members = {}
    for klass in reversed(cls.__mro__):
        if not _from_hdtweedie(klass):
            continue
        for name, raw in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(raw, property):
                members[name] = (klass, raw)
            elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
                members[name] = (klass, raw)
    return members


def _returns_value(func) -> str | None:
    """"Returns" or "Yields" when the body returns a value or yields; None otherwise."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        ann = inspect.signature(func).return_annotation
        return None if ann in (inspect.Signature.empty, None, "None") else "Returns"
    body = tree.body[0]
    stack, kind = list(ast.iter_child_nodes(body)), None
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return "Yields"
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            kind = "Returns"
        stack.extend(ast.iter_child_nodes(node))
    return kind


def _documented_names(doc, section) -> list:
    names = []
    for param in doc[section]:
        names.extend(n.strip() for n in param.name.split(","))
    return [n for n in names if n]


def _signature_names(func, drop_first: bool) -> list:
    params = list(inspect.signature(func).parameters.values())
    if drop_first and params:
        params = params[1:]
    out = []
    for p in params:
        stars = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append(stars + p.name)
    return out


def _parse(obj, label, problems):
    text = inspect.getdoc(obj)
    if not text or not text.strip():
        problems.append(f"{label}: no docstring")
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            doc = docscrape.NumpyDocString(text)
        except Exception as exc:  # numpydoc raises ValueError and others on malformed sections
            problems.append(f"{label}: docstring does not parse as numpydoc ({exc})")
            return None
    if not doc["Summary"]:
        problems.append(f"{label}: no summary line")
    return doc


def check_callable(func, label, problems, *, drop_first=False, doc_obj=None, sections=("Parameters",)):
    """Append to ``problems`` what is wrong with ``func``'s docstring (or ``doc_obj``'s)."""
    doc = _parse(doc_obj if doc_obj is not None else func, label, problems)
    if doc is None:
        return
    want = _signature_names(func, drop_first)
    got = []
    for section in sections:
        got = _documented_names(doc, section)
        if got:
            break
    if [n.lstrip("*") for n in got] != [n.lstrip("*") for n in want]:
        problems.append(f"{label}: {sections[0]} documents {got}, the signature has {want}")
    if doc_obj is None:
        kind = _returns_value(func)
        if kind and not doc[kind] and not (kind == "Yields" and doc["Returns"]):
            problems.append(f"{label}: returns a value but has no {kind} section")


def _generated_init(cls) -> bool:
    """``__init__`` written by dataclasses/NamedTuple: the fields may be documented as Attributes."""
    return hasattr(cls, "__dataclass_fields__") or hasattr(cls, "_fields")


def check_class(cls, label, problems, seen):
    """Class docstring (with the ``__init__`` parameters), then every public member not in ``seen``."""
    init = next(k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__)
    if _from_hdtweedie(init) or _generated_init(cls):
        sections = ("Parameters", "Attributes") if _generated_init(cls) else ("Parameters",)
        check_callable(cls.__init__, label, problems, drop_first=True, doc_obj=cls,
                       sections=sections)
    else:
        _parse(cls, label, problems)
    for name, (owner, raw) in class_members(cls).items():
        member = f"{owner.__module__}.{owner.__qualname__}.{name}"
        if member in seen:  # inherited by several public classes: checked once
            continue
        seen.add(member)
        if isinstance(raw, property):
            _parse(raw.fget, member, problems)
        elif isinstance(raw, staticmethod):
            check_callable(raw.__func__, member, problems)
        elif isinstance(raw, classmethod):
            check_callable(raw.__func__, member, problems, drop_first=True)
        else:
            check_callable(raw, member, problems, drop_first=True)


def test_public_api_has_numpydoc_docstrings():
    objects, problems = public_objects()
    assert "hdtweedie._estimator.HDTweedie" in objects  # the walk found the estimators
    seen = set()
    for label, obj in sorted(objects.items()):
        if inspect.isclass(obj):
            check_class(obj, label, problems, seen)
        else:
            check_callable(obj, label, problems)
    if problems:
        pytest.fail(f"{len(problems)} docstring problems:\n" + "\n".join(problems), pytrace=False)


# The checker itself, on functions written to pass and to fail each rule.
def _good(a, b=1, *args, **kwargs):
    """Add.

    Parameters
    ----------
    a, b : int
        Terms.
    *args : int
        More terms.
    **kwargs : dict
        Ignored.

    Returns
    -------
    int
    """
    return a + b + sum(args)


def _wrong_order(a, b):
    """Swap.

    Parameters
    ----------
    b : int
    a : int

    Returns
    -------
    tuple
    """
    return b, a


def _no_returns(a):
    """Double.

    Parameters
    ----------
    a : float
    """
    return 2 * a


def _generator(n):
    """Count.

    Parameters
    ----------
    n : int
    """
    yield from range(n)


def _returns_none_only(a):
    """Nothing back.

    Parameters
    ----------
    a : object
    """
    if a:
        return None

    def inner():
        return a  # a nested function's return is not the outer one's
    inner()


@pytest.mark.parametrize("func, expected", [
    (_good, []),
    (_wrong_order, ["Parameters documents ['b', 'a'], the signature has ['a', 'b']"]),
    (_no_returns, ["returns a value but has no Returns section"]),
    (_generator, ["returns a value but has no Yields section"]),
    (_returns_none_only, []),
    (lambda x: x, ["no docstring"]),
], ids=["good", "order", "returns", "yields", "none", "undocumented"])
def test_checker_finds_each_problem(func, expected):
    problems = []
    check_callable(func, "f", problems)
    assert [p.removeprefix("f: ") for p in problems] == expected
