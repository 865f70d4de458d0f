"""Group commit: one writer thread commits the events of every waiting caller in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

#: ``done(stored, error)``: called by the writer once a caller's events are committed (or not).
Done = Callable[[list, Exception | None], None]


class Pending:
    """One caller's events and what to call once they are committed.

    Parameters
    ----------
    events : list of dict
    done : callable or None
        ``done(stored, error)``, called from the writer thread.
    future : asyncio.Future, optional
        Instead of ``done``: settled on its loop with ``(stored, error)``.
    """

    __slots__ = ("events", "done", "future", "stored", "error")

    def __init__(self, events: list, done: Done | None, future: asyncio.Future | None = None):
        self.events = events
        self.done = done
        self.future = future
        self.stored: list = []
        self.error: Exception | None = None


class GroupWriter:
    """A writer thread that commits what is waiting, one transaction per group.

    The thread starts on the first submission (so after a fork or a spawn,
    each worker process has its own).  Callers are released only after the
    transaction holding their events has committed; the commit order is the
    chain order.

    Parameters
    ----------
    commit : callable
        ``commit(batch)`` writes a list of :class:`Pending` in one transaction,
        filling ``stored`` or ``error`` of each; it must not raise.
    closed : callable
        ``closed()``: the exception raised by a submission after :meth:`close`.
    turn : callable, optional
        ``turn()``: a context manager held while a group is taken from the
        queue and committed (it must not raise).  A writer that waits there
        for another process's commit takes everything queued meanwhile in
        one group.
    name : str, optional
        The writer thread's name (seen in thread dumps and profiles).
    """

    def __init__(self, commit: Callable[[list], None], closed: Callable[[], Exception],
                 turn: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 name: str = "ledger-writer"):
        self._name = name
        self._commit = commit
        self._closed_error = closed
        self._turn = turn
        self._cond = threading.Condition()
        self._queue: list = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, events: list, done: Done | None, future: asyncio.Future | None = None) -> None:
        """Queue events; ``done`` is called from the writer thread after the commit.

        Parameters
        ----------
        events : list of dict
        done : callable or None
            ``done(stored, error)``.
        future : asyncio.Future, optional
            Instead of ``done``: settled with ``(stored, error)`` on its event loop.

        Raises
        ------
        Exception
            ``closed()`` if the writer was closed.
        """
        item = Pending(events, done, future)
        with self._cond:
            if self._closed:
                raise self._closed_error()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.append(item)
            self._cond.notify()

    def wait(self, events: list) -> tuple:
        """Submit and block until committed.

        Parameters
        ----------
        events : list of dict
            One caller's events, committed together.

        Returns
        -------
        tuple
            ``(stored, error)``: the events as stored, or the exception that refused them.
        """
        box: list = []
        flag = threading.Event()

        def done(stored: list, error: Exception | None) -> None:
            box.append((stored, error))
            flag.set()

        self.submit(events, done)
        flag.wait()
        return box[0]

    async def wait_async(self, events: list) -> tuple:
        """Submit and await the commit without blocking the event loop.

        Parameters
        ----------
        events : list of dict

        Returns
        -------
        tuple
            As :meth:`wait`.
        """
        future = asyncio.get_running_loop().create_future()
        self.submit(events, None, future)
        return await future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
            with self._turn():
                with self._cond:
                    batch, self._queue = self._queue, []
                self._commit(batch)
            # One wake-up of each event loop per group, not one per caller.
            loops: dict = {}
            for item in batch:
                if item.future is None:
                    item.done(item.stored, item.error)
                else:
                    loops.setdefault(item.future.get_loop(), []).append(item)
            for loop, items in loops.items():
                with contextlib.suppress(RuntimeError):  # the loop was closed: nobody waits
                    loop.call_soon_threadsafe(_settle, items)

    def close(self) -> None:
        """Commit what is queued, then stop the thread.

        Returns
        -------
        None
        """
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


def _settle(items: list) -> None:
    for item in items:
        if not item.future.done():  # the request may have been cancelled (client gone)
            item.future.set_result((item.stored, item.error))
