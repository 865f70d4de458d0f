"""Shared pieces of the subcommands: errors, option types, loading models and records."""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input, reported in one line."""


class UsageError(UserError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """Argument parser whose errors are one line, not usage plus message."""

    def error(self, message: str):
        """Raise :class:`UsageError` instead of printing usage and exiting.

        Parameters
        ----------
        message : str
            argparse's message.

        Raises
        ------
        UsageError
        """
        raise UsageError(f"{message} (see '{self.prog} --help')")


def one_line(exc: BaseException | str) -> str:
    """An exception's message on one line.

    Parameters
    ----------
    exc : exception or str
        The error.

    Returns
    -------
    str
    """
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def split_columns(values: Iterable[str] | None) -> list[str]:
    """Flatten repeated, comma-separated column options, keeping order.

    Parameters
    ----------
    values : list of str or None
        The option's values, e.g. ``["area,ncd", "vehicle"]``.

    Returns
    -------
    list of str
        Distinct names in order.
    """
    out = []
    for value in values or ():
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return out


def float_in(name: str, low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """argparse type: a float within [low, high] (or (low, high]).

    Parameters
    ----------
    name : str
        The option, for messages.
    low, high : float
        The bounds.
    low_open : bool
        Exclude ``low``.

    Returns
    -------
    callable
    """

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if math.isnan(value) or too_low or value > high or (math.isinf(value) and high != math.inf):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"{name} must be in {bracket}{low:g}, {high:g}], got {text}")
        return value

    return parse


def int_at_least(name: str, low: int) -> Callable[[str], int]:
    """argparse type: an integer of at least ``low``.

    Parameters
    ----------
    name : str
        The option, for messages.
    low : int
        The smallest value allowed.

    Returns
    -------
    callable
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be at least {low}, got {value}")
        return value

    return parse


def load_json_arg(text: str, option: str) -> dict:
    """A JSON object given inline, or as the path of a JSON file (``@file`` too).

    Parameters
    ----------
    text : str
        The option's value.
    option : str
        The option, for messages.

    Returns
    -------
    dict

    Raises
    ------
    UserError
        The file cannot be read, or the text is not a JSON object.
    """
    source = text
    candidate = text[1:] if text.startswith("@") else text
    if text.startswith("@") or (not text.lstrip().startswith("{") and Path(candidate).is_file()):
        try:
            source = read_text(candidate)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UserError(f"{option}: cannot read {candidate}: {reason}") from None
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise UserError(f"{option} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise UserError(f"{option} is nested too deeply") from None
    if not isinstance(value, dict):
        raise UserError(f"{option} must be a JSON object of factor values, got {type(value).__name__}")
    return value


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file's content; the file is closed even if SIGTERM lands as it is opened.

    Parameters
    ----------
    path : str or path-like
        The file: a regular file (a FIFO or device would block or never end).

    Returns
    -------
    str

    Raises
    ------
    OSError, UnicodeDecodeError
        The file cannot be read, is not a regular file, or is not UTF-8 text.
    """
    from .._atomic import opened

    with opened(lambda: open(path, encoding="utf-8", opener=_open_nonblocking)) as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError("not a regular file")
        return fh.read()


def _open_nonblocking(path: str, flags: int) -> int:
    """open()'s opener: a FIFO is opened without waiting for a writer (and then refused)."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def load_model(path: str | os.PathLike):
    """Load a model file, with every problem as a one-line :class:`UserError`.

    Parameters
    ----------
    path : str or path-like
        The model file.

    Returns
    -------
    ScoringModel

    Raises
    ------
    UserError
    """
    from .. import scoring

    p = Path(path)
    if not p.exists():
        raise UserError(f"model file not found: {path}")
    if p.is_dir():
        raise UserError(f"{path} is a folder, not a model file")
    try:
        return scoring.load_model(p)
    except (ValueError, TypeError, KeyError, OSError, RecursionError, MemoryError, OverflowError) as exc:
        raise UserError(one_line(exc)) from None


def factor_names(model) -> list[str]:
    """The model's rating factors (read as text from data files).

    Parameters
    ----------
    model : ScoringModel or CompositeModel

    Returns
    -------
    list of str
    """
    if hasattr(model, "factor_names"):  # a composite: the factors of every part
        return list(model.factor_names)
    return [spec["name"] for spec in model.document["inputs"] if spec["kind"] == "factor"]


def factor_table_csv(model, **options) -> str:
    """The model's factor table as CSV text, formatted by the scorer's own writer.

    Parameters
    ----------
    model : ScoringModel
        A loaded model.
    **options
        Passed to :meth:`~hdtweedie.scoring.ScoringModel.factor_table`.

    Returns
    -------
    str
        Header ``Factor,Level,Relativity`` (plus ``SE,LowerCI,UpperCI``) and one line per row.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "factors.csv"
        model.factor_table(path=path, **options)
        return read_text(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all, creating its folder.

    Parameters
    ----------
    path : str or path-like
        The destination.
    text : str
        The content.

    Raises
    ------
    OSError
        The file cannot be written (the destination is unchanged).
    """
    from .._atomic import atomic_write
    from ..tables import make_parent

    make_parent(path)
    with atomic_write(path, "w", newline="") as fh:
        fh.write(text)


def action_parsers(sub, common, name: str, help_text: str):
    """A command whose first argument is an action (``ledger verify``, ``keys create``).

    Parameters
    ----------
    sub : argparse subparsers action
    common : argparse.ArgumentParser
        The shared options.
    name, help_text : str
        The command and its one-line help.

    Returns
    -------
    argparse subparsers action
        Where the actions are added; one of them is required.
    """
    p = sub.add_parser(name, parents=[common], help=help_text)
    actions = p.add_subparsers(dest=f"{name}_command", metavar="ACTION", parser_class=type(p))
    actions.required = True
    return actions

