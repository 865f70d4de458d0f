"""Writing a benchmark's table into benchmarks/README.md between its two markers."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, start: str, end: str, text: str, heading: str | None = None) -> None:
    """Put ``text`` between the ``start`` and ``end`` markers of ``path``, replacing what was there.

    Parameters
    ----------
    path : Path
        The markdown file.
    start, end : str
        The marker lines (HTML comments).
    text : str
        The new content.
    heading : str, optional
        A heading line put before the markers when they are absent (then added at the end).
    """
    old = path.read_text()
    block = f"{start}\n{text.rstrip()}\n{end}"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    path.write_text(new)
