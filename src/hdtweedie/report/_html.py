"""HTML pieces of the sign-off report: escaped text, tables, embedded PNG figures, sections."""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

__all__ = ["CSS", "figure", "number", "page", "section", "table"]

CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px auto; max-width: 1280px;
       color: #1f2933; line-height: 1.4; }
h1 { border-bottom: 3px solid #2f5d8a; padding-bottom: 6px; }
h2 { color: #2f5d8a; border-bottom: 1px solid #c9d6e3; margin-top: 36px; }
h3 { margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #c9d6e3; padding: 3px 8px; }
th { background: #eef3f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { background: #fff6e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
.ok { color: #1e7b34; font-weight: bold; }
.bad { color: #b42318; font-weight: bold; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0 18px; }
nav a { margin-right: 14px; }
.muted { color: #67778a; font-size: 12px; }
"""


def number(value, digits: int = 4) -> str:
    """Text of a number for the report: ``digits`` significant digits, integers whole.

    Parameters
    ----------
    value : object
    digits : int

    Returns
    -------
    str
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15 and digits >= 4 and abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(value)


def table(df, *, index_label: str | None = None, digits: int = 4) -> str:
    """An HTML table of a DataFrame: index first, numbers right-aligned, text escaped.

    Parameters
    ----------
    df : pandas.DataFrame
    index_label : str, optional
        Header of the index column (default: the index name).
    digits : int
        Significant digits of floats.

    Returns
    -------
    str
    """
    label = index_label if index_label is not None else (df.index.name or "")
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [label, *df.columns])
    rows = []
    for key, row in zip(df.index, df.itertuples(index=False)):
        cells = [f"<th>{html.escape(_label(key))}</th>"]
        for v in row:
            numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
            cells.append(f'<td class="num">{number(v, digits)}</td>' if numeric
                         else f"<td>{html.escape(number(v, digits))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _label(key) -> str:
    if hasattr(key, "left") and hasattr(key, "right"):  # an interval of a banded number
        return f"({key.left:.4g}, {key.right:.4g}]"
    return str(key)


def figure(fig, alt: str) -> str:
    """A matplotlib figure as an embedded PNG ``<img>``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    alt : str
        Text alternative.

    Returns
    -------
    str
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def section(anchor: str, title: str, body: str) -> str:
    """A titled section with an anchor for the contents list.

    Parameters
    ----------
    anchor, title, body : str
        ``body`` is HTML; the others are escaped.

    Returns
    -------
    str
    """
    return f'<section id="{html.escape(anchor)}"><h2>{html.escape(title)}</h2>\n{body}\n</section>\n'


def page(title: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole self-contained HTML document: inline CSS, no scripts, no external references.

    Parameters
    ----------
    title : str
    sections : list of (anchor, title, body)

    Returns
    -------
    str
    """
    nav = " ".join(f'<a href="#{html.escape(a)}">{html.escape(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>"
            f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}</body></html>\n")
