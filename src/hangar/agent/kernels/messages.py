"""Pure translation between Jupyter messages and query-mode records.

Output of a cell arrives on IOPub as ``stream``, ``display_data``, ``execute_result`` and
``error`` messages; each becomes console records in arrival order:

- ``stream`` -> ``stdout`` / ``stderr`` text;
- rich data -> one record for the richest representation the wire defines:
  ``application/x-sorna-drawing`` (JSON text), SVG (XML text), binary images (data URIs),
  HTML; otherwise the ``text/plain`` form as stdout;
- ``error`` -> the traceback on stderr, ANSI colours removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from hangar.agent.models import RunOutput

DRAWING = "application/x-sorna-drawing"
SVG = "image/svg+xml"
BINARY_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour sequences."""
    return _ANSI.sub("", text)


def _text(value: Any) -> str:
    """Jupyter sends multi-line data as a string or a list of lines."""
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


def rich_records(data: Mapping[str, Any], *, result: bool = False) -> list[RunOutput]:
    """Records for a display's MIME bundle (``result``: an ``execute_result``)."""
    if DRAWING in data:
        return [RunOutput("media", _text(data[DRAWING]), mime=DRAWING)]
    if SVG in data:
        return [RunOutput("media", _text(data[SVG]), mime=SVG)]
    for mime in BINARY_IMAGES:
        if mime in data:
            payload = "".join(_text(data[mime]).split())
            return [RunOutput("media", f"data:{mime};base64,{payload}", mime=mime)]
    if "text/html" in data:
        return [RunOutput("html", _text(data["text/html"]))]
    if "text/plain" in data:
        text = _text(data["text/plain"])
        return [RunOutput("stdout", text + "\n" if result else text)]
    return []


def output_records(msg_type: str, content: Mapping[str, Any]) -> list[RunOutput]:
    """Console records for one IOPub message of a cell (none for status and the like)."""
    if msg_type == "stream":
        text = _text(content.get("text", ""))
        if content.get("name") == "stderr":
            return [RunOutput("stderr", text)]
        return [RunOutput("stdout", text)]
    if msg_type in ("display_data", "update_display_data"):
        return rich_records(content.get("data") or {})
    if msg_type == "execute_result":
        return rich_records(content.get("data") or {}, result=True)
    if msg_type == "error":
        lines = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
        return [RunOutput("stderr", strip_ansi("\n".join(map(str, lines))) + "\n")]
    return []


def cursor_position(code: str, options: Mapping[str, Any] | None) -> tuple[str, int]:
    """The text to complete and the cursor offset in it.

    As if the tab key were pressed just after ``code``; ``row``/``col`` (0-based) place the
    cursor inside it when either is non-zero; with no code, ``line`` + ``post`` with the
    cursor after ``line`` (what editors send).
    """
    options = options or {}
    line, post = str(options.get("line") or ""), str(options.get("post") or "")
    if not code and line:
        return line + post, len(line)
    try:
        row, col = int(options.get("row") or 0), int(options.get("col") or 0)
    except (TypeError, ValueError):
        row = col = 0
    lines = code.split("\n")
    if (row or col) and 0 <= row < len(lines) and 0 <= col <= len(lines[row]):
        return code, sum(len(text) + 1 for text in lines[:row]) + col
    return code, len(code)
