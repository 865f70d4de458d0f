"""Where the command line writes: results, notes, progress and warnings."""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

PROG = "hdtweedie"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Step:
    """A running step: its ``note`` (e.g. "3/6 fits") is shown after the label."""

    def __init__(self) -> None:
        self.note = ""
        self._lock = threading.Lock()

    def jobs(self, done: int, total: int) -> None:
        """Progress callback ``(done, total)``; safe to call from worker threads.

        Parameters
        ----------
        done, total : int
            Jobs finished so far, and in all.
        """
        with self._lock:
            self.note = f"{done}/{total} fits"


class Reporter:
    """Where the command line writes.

    Results (tables the user asked for) always go to standard output; notes go
    there unless ``quiet``; progress is drawn on standard error only when it
    is a terminal and not ``quiet``; ``verbose`` adds step timings and details.

    Parameters
    ----------
    quiet, verbose : bool
        Print only results and errors; add timings and details.
    out, err : file, optional
        Standard output and error (default: ``sys.stdout``, ``sys.stderr``).
    """

    def __init__(self, quiet: bool = False, verbose: bool = False, out: TextIO | None = None,
                 err: TextIO | None = None) -> None:
        self.out = sys.stdout if out is None else out
        self.err = sys.stderr if err is None else err
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.live = not quiet and _isatty(self.err)
        self._lock = threading.Lock()

    def result(self, text: str = "") -> None:
        """Print a result on standard output, even when quiet.

        Parameters
        ----------
        text : str
            The result.
        """
        print(text, file=self.out, flush=True)

    def say(self, text: str = "") -> None:
        """Print a note on standard output unless quiet.

        Parameters
        ----------
        text : str
            The note.
        """
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        """Print a detail on standard error when verbose.

        Parameters
        ----------
        text : str
            The detail.
        """
        if self.verbose:
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        """Print ``hdtweedie: warning: TEXT`` on standard error unless quiet.

        Parameters
        ----------
        text : str
            The warning.
        """
        if not self.quiet:
            self.clear()
            print(f"{PROG}: warning: {text}", file=self.err, flush=True)

    @staticmethod
    def _fit(line: str) -> str:
        """Cut a progress line to the terminal width so that \\r can redraw it."""
        width = shutil.get_terminal_size((80, 24)).columns - 1
        return line if len(line) <= width else line[: max(width - 3, 1)] + "..."

    def clear(self) -> None:
        """Erase the progress line, if one is drawn."""
        if self.live:
            self.err.write("\r\033[K")
            self.err.flush()

    def _draw(self, line: str) -> None:
        with self._lock:
            self.err.write(f"\r\033[K{self._fit(line)}")
            self.err.flush()

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """Show ``label`` with a spinner and elapsed time while the body runs.

        Parameters
        ----------
        label : str
            What is being done.

        Yields
        ------
        Step
            Its ``note``, or its ``jobs`` progress callback, is shown after the label.
        """
        start = time.perf_counter()
        stop = threading.Event()
        handle = Step()
        thread = None
        if self.live:
            frames = "|/-\\"

            def spin() -> None:
                k = 0
                while not stop.wait(0.2):
                    note = f": {handle.note}" if handle.note else ""
                    self._draw(f"{frames[k % 4]} {label}{note} ({time.perf_counter() - start:.0f} s)")
                    k += 1

            self._draw(f"{label} ...")
            thread = threading.Thread(target=spin, daemon=True)
            thread.start()
        ok = False
        try:
            yield handle
            ok = True
        finally:
            stop.set()
            if thread is not None:
                thread.join()
            elapsed = time.perf_counter() - start
            if self.live:
                note = f"{handle.note}, " if handle.note else ""
                self._draw(f"{label}: {note}{'done' if ok else 'failed'} in {elapsed:.1f} s")
                self.err.write("\n")
                self.err.flush()
            else:
                self.detail(f"{label}: {elapsed:.2f} s")

    def counter(self, label: str, total: int, unit: str = "rows") -> Callable[[int], None]:
        """A callable ``update(done)`` drawing ``label: done/total``.

        Parameters
        ----------
        label : str
            What is counted.
        total : int
            The count at the end.
        unit : str
            Shown after the numbers.

        Returns
        -------
        callable
        """
        start = time.perf_counter()

        def update(done: int) -> None:
            if not self.live:
                return
            pct = 100.0 * done / total if total else 100.0
            self._draw(f"{label}: {done:,}/{total:,} {unit} ({pct:.0f}%)")
            if done >= total:
                self.err.write(f" in {time.perf_counter() - start:.1f} s\n")
                self.err.flush()

        return update
