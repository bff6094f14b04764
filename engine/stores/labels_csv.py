"""The labels.csv format: strict parsing and the canonical text (docs/formats.md, "Labels").

Kept apart from the store (engine/stores/labels.py) because the format has rules of its own (which
numbers count, which tokens mean "unlabelled") that other readers, such as the malformed-input
tests and a future import path, need without a store.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Mapping

from engine.errors import LabelError

HEADER = ("Serial", "label")
_NAN_TOKENS = frozenset({"", "nan", "NaN", "NAN", "<NA>", "None", "null", "NULL"})
_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def parse_int(text: str) -> int:
    """An integer written as ``3``, ``-3``, ``3.0`` or ``3e0`` (pandas writes floats once a column
    has NaN), spaces around. ASCII digits only: ``int()`` would take ``1_0`` (as 10), other
    scripts' digits, ``inf``. Raises ValueError("not a number") or ValueError("not an integer")."""
    text = text.strip()
    if not _NUMBER_RE.fullmatch(text):
        raise ValueError("not a number")
    if len(text) > 40:  # int() refuses 4300+ digits with a confusing message; no index is this long
        raise ValueError("not a number of sensible size")
    if _INT_RE.fullmatch(text):
        return int(text)
    value = float(text)
    if not math.isfinite(value) or value != int(value):
        raise ValueError("not an integer")
    return int(value)


def parse_labels(data: bytes, n_samples: int, num_classes: int, where: str) -> tuple[dict[int, int], set[int]]:
    """Parse and validate label CSV bytes.

    Returns ``(labels, unlabelled)``: the labelled rows and the serials listed with an empty/NaN
    label. ``where`` names the file in error messages, which also give the line number.
    """

    def fail(line: int, msg: str) -> LabelError:
        return LabelError(f"{where}: line {line}: {msg}")

    def bounded(line: int, text: str, limit: int, what: str, out_of_range: str) -> int:
        """One cell as an integer in 0..limit-1. ``what`` names the cell in the parse error, with
        ``{}`` for its text; ``out_of_range`` words the range error, ``{}`` the value and the last."""
        try:
            value = parse_int(text)
        except ValueError as err:
            raise fail(line, f"{what.format(repr(text[:40]))} is {err}") from None
        if not 0 <= value < limit:
            raise fail(line, out_of_range.format(value, limit - 1))
        return value

    if not data:
        raise fail(1, "empty file, expected header Serial,label")
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # UTF-8 BOM (Excel)
    nul = body.find(b"\x00")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        if nul < 0 or err.start < nul:
            line = body.count(b"\n", 0, err.start) + 1
            raise fail(line, f"not UTF-8 text (byte 0x{body[err.start]:02x}); binary file?") from None
    if nul >= 0:  # csv would accept NUL bytes; they only appear in binary files
        raise fail(body.count(b"\n", 0, nul) + 1, "binary data (NUL byte), not a CSV file")

    reader = csv.reader(io.StringIO(text, newline=""))
    labels: dict[int, int] = {}
    unlabelled: set[int] = set()
    first_line: dict[int, int] = {}
    try:
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(HEADER):
            got = ",".join(header) if header else "nothing"
            raise fail(1, f"bad header {got[:80]!r}, expected Serial,label")
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line (e.g. an editor's trailing newline)
            if len(row) != 2:
                raise fail(line, f"expected 2 fields (Serial,label), got {len(row)}")
            s_text, l_text = row[0].strip(), row[1].strip()
            if not s_text:
                raise fail(line, "empty Serial")
            serial = bounded(line, s_text, n_samples, "Serial {}", "unknown Serial {}: training indices are 0..{}")
            if serial in first_line:
                raise fail(line, f"duplicate Serial {serial} (first on line {first_line[serial]})")
            first_line[serial] = line
            if l_text in _NAN_TOKENS:
                unlabelled.add(serial)
                continue
            what = f"label {{}} for Serial {serial}"
            labels[serial] = bounded(line, l_text, num_classes, what, what + " is out of range 0..{}")
    except csv.Error as err:
        raise fail(reader.line_num, f"malformed CSV ({err})") from None
    return labels, unlabelled


def format_labels(labels: Mapping[int, int]) -> str:
    """Canonical (sparse, sorted) CSV text of the labelled rows."""
    body = "".join(f"{s},{labels[s]}\n" for s in sorted(labels))
    return "Serial,label\n" + body


def labels_hash(labels: Mapping[int, int]) -> str:
    """sha256 hex of :func:`format_labels` (``labels_hash`` in checkpoint metadata)."""
    return hashlib.sha256(format_labels(labels).encode()).hexdigest()
