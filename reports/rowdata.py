"""The row data scripts: the cells of one backend row, as one small script (data/<row>.js).

The tables that would grow with the backend rows keep their frame in the page (column heads, one
head per backend row) and take their cells from these scripts: the feature table's columns
(`reports.features`), the index's backends x tasks view, and each task page's backends x
architectures. A page loads the scripts with <script src> (file:// allows it, not fetch) and site.js
places the cells, as text. A script holds all of its row's cells, so no file grows with the number
of rows: at 108 rows of the suite's catalogue the index is 142 KB, 423 KB with the cells inline.

A script is JSON (data, never markup) with <, > and & escaped as \\u003c etc.: no string from a
record can close a <script> element, even if the data were inlined in a page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .model import OUTCOMES

DATA_GLOBAL = "OC_ROWS"  # the object the scripts fill: row slug -> {part: cells}

Cell = list[Any]  # [core colour, strict colour, lines of text, counts in OUTCOMES order, link]


def cell(core: str, strict: str, lines: list[str], counts: Mapping[str, int], href: str) -> Cell:
    """One cell as site.js reads it; `href` is from the site's root (pages add their own root)."""
    return [core, strict, lines, [counts[outcome] for outcome in OUTCOMES], href]


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def data_script(row_slug: str, data: Mapping[str, Any]) -> str:
    """The script that adds one backend row's cells to the page: {part: cells}."""
    target = f"(window.{DATA_GLOBAL} = window.{DATA_GLOBAL} || {{}})"
    return f"{target}[{_json(row_slug)}] = {_json(data)};\n"


def data_href(row_slug: str) -> str:
    """Where a backend row's script is, from the site's root."""
    return f"data/{row_slug}.js"
