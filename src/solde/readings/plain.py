"""The file import's usual batch — lines of the API's six columns in order, no quote — read as
whole arrays (numpy) instead of a Python object per field.

Splitting 50,000 lines into 300,000 strings, then checking, judging and packing them one by one
was most of `import-readings`' Python time (decision 0016). Here a batch stays one byte buffer:
the lines and commas are found by array operations, a run of one meter register is told by
comparing each line's "who" (EAN, meter, register, unit) with the line before, the values are
read as digits and the instants as a key per distinct text (each text parsed once by
`rules.parse_instant`). Whatever is not plainly fine — a field too long, a value in another
spelling, an instant in another form — makes the caller fall back to the row code, which gives
every refused row its reason and sentence. Nothing here decides a rule of its own: the checks
are those of `services._prepare`'s run check and `rules.all_accepted`, on whole arrays, and the
tests compare both paths row for row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from solde.readings import rules

_PAD = 64  # zero bytes around the text: every window below stays inside the buffer
_NL, _COMMA, _DOT, _ZERO = 10, 44, 46, 48

# A plain value: 1 to 15 digits, a point, three decimals (what `services._PLAIN_VALUES` takes),
# right-aligned in a window of 19 bytes; its thousandths are the digits weighted by position.
_VALUE_WIDTH = 19
_VALUE_WEIGHTS = np.array([10 ** (17 - j) for j in range(15)] + [0, 100, 10, 1], dtype=np.int64)

# An instant in the form every head-end writes: 2026-11-28T00:15:00+01:00. Its 18 digits and
# the offset's sign are a key that tells the texts apart (the separators are checked equal), so
# that each distinct text is parsed once, by the real parser.
_AT_WIDTH = 25
_AT_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24]
_AT_WEIGHTS = np.array([10 ** (17 - j) for j in range(18)], dtype=np.int64)
_AT_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 22: ":"}
_PLUS, _MINUS = ord("+"), ord("-")

# PostgreSQL's binary COPY: a row is its field count, then each field as (length, bytes).
PG_EPOCH_US = 946_684_800 * 10**6  # 2000-01-01 UTC, the epoch of its timestamps


class PlainText(Sequence[tuple[str, ...]]):
    """A batch of whole lines with exactly five commas each and no quote, as one buffer. A
    sequence of rows (6-tuples of text) for the row code; `runs`, `instants` and `values`
    for the array path."""

    __slots__ = ("text", "data", "starts", "commas", "ends")

    def __init__(self, text: str, data: np.ndarray, starts: np.ndarray, commas: np.ndarray):
        self.text = text
        self.data = data
        self.starts = starts  # each line's first byte
        self.commas = commas  # (lines, 5): each line's commas
        self.ends = np.empty_like(starts)  # each line's line break
        self.ends[:-1] = starts[1:] - 1
        self.ends[-1] = len(data) - _PAD - 1

    @classmethod
    def of(cls, text: str) -> PlainText | None:
        """`text`: lines, each ending with a line break ("\\n"), no quote and no "\\r". None
        unless every line has exactly five commas."""
        raw = text.encode()
        data = np.frombuffer(bytes(_PAD) + raw + bytes(_PAD), np.uint8)
        breaks = np.flatnonzero(data == _NL)
        every = np.flatnonzero(data == _COMMA)
        n = len(breaks)
        if n == 0 or len(every) != 5 * n:
            return None
        starts = np.empty(n, np.int64)
        starts[0] = _PAD
        starts[1:] = breaks[:-1] + 1
        commas = every.reshape(n, 5)
        # Each line's first comma after its start and fifth before its break, five a line in
        # all: each line has exactly five.
        if not ((commas[:, 0] >= starts).all() and (commas[:, 4] < breaks).all()):
            return None
        return cls(text, data, starts, commas)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, pos):  # type: ignore[no-untyped-def,override]
        line = self.data[self.starts[pos] : self.ends[pos]].tobytes().decode()
        return tuple(line.split(","))

    def columns(self) -> list[list[str]]:
        """The six columns as lists of text (the row code's `Columns`)."""
        fields = self.text.replace("\n", ",").split(",")
        fields.pop()  # after the last line break
        return [fields[i::6] for i in range(6)]

    def _field(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Where field k of each line starts and ends."""
        starts = self.starts if k == 0 else self.commas[:, k - 1] + 1
        ends = self.ends if k == 5 else self.commas[:, k]
        return starts, ends

    def _windows(self, starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
        """Each field's bytes from its start, `width` wide, zero past its end."""
        out = sliding_window_view(self.data, width)[starts]
        out[np.arange(width) >= (ends - starts)[:, None]] = 0
        return out

    def runs(self) -> tuple[np.ndarray, list[tuple[str, str, str, str]]] | None:
        """Where each run of lines about one meter register begins (plus the end), and its
        (EAN, meter, register, unit). None if a line holds a NUL or a field too long."""
        if "\x00" in self.text:
            return None
        starts, _ = self._field(0)
        _, who_ends = self._field(2)  # EAN, meter, register: one slice of each line
        unit_starts, unit_ends = self._field(5)
        who_width = int((who_ends - starts).max())
        unit_width = int((unit_ends - unit_starts).max())
        if who_width > _PAD or unit_width > _PAD:
            return None
        who = np.ascontiguousarray(self._windows(starts, who_ends, who_width))
        units = np.ascontiguousarray(self._windows(unit_starts, unit_ends, max(unit_width, 1)))
        who_keys = who.view(f"V{who_width}").ravel()
        unit_keys = units.view(f"V{max(unit_width, 1)}").ravel()
        change = (who_keys[1:] != who_keys[:-1]) | (unit_keys[1:] != unit_keys[:-1])
        bounds = np.concatenate(([0], np.flatnonzero(change) + 1, [len(self)]))
        data = self.data
        out = []
        for pos in bounds[:-1].tolist():
            ean, serial, register = data[starts[pos] : who_ends[pos]].tobytes().decode().split(",")
            unit = data[unit_starts[pos] : unit_ends[pos]].tobytes().decode()
            out.append((ean, serial, register, unit))
        return bounds, out

    def instants(self) -> tuple[list[str], np.ndarray] | None:
        """The distinct instant texts and, for each line, which one it holds. None unless
        every instant is written as 2026-11-28T00:15:00+01:00."""
        starts, ends = self._field(3)
        if not (ends - starts == _AT_WIDTH).all():
            return None
        text = sliding_window_view(self.data, _AT_WIDTH)[starts]
        for at, separator in _AT_SEPARATORS.items():
            if not (text[:, at] == ord(separator)).all():
                return None
        sign = text[:, 19]
        minus = sign == _MINUS
        if not (minus | (sign == _PLUS)).all():
            return None
        digits = text[:, _AT_DIGITS].astype(np.int64) - _ZERO
        if digits.min() < 0 or digits.max() > 9:
            return None
        keys = (digits @ _AT_WEIGHTS) * 2 + minus
        _keys, first, which = np.unique(keys, return_index=True, return_inverse=True)
        data = self.data
        texts = [data[starts[i] : ends[i]].tobytes().decode() for i in first.tolist()]
        return texts, which.ravel()

    def values(self) -> np.ndarray | None:
        """Each line's value in thousandths. None unless every value is plain (1–15 digits, a
        point, three decimals)."""
        starts, ends = self._field(4)
        length = ends - starts
        if length.min() < 5 or length.max() > _VALUE_WIDTH:
            return None
        digits = sliding_window_view(self.data, _VALUE_WIDTH)[ends - _VALUE_WIDTH].astype(np.int64)
        digits -= _ZERO
        digits[np.arange(_VALUE_WIDTH) < (_VALUE_WIDTH - length)[:, None]] = 0
        if not (digits[:, 15] == _DOT - _ZERO).all():
            return None
        digits[:, 15] = 0
        if digits.min() < 0 or digits.max() > 9:
            return None
        return digits @ _VALUE_WEIGHTS


def rising(ts: np.ndarray, vs: np.ndarray, bounds: np.ndarray, max_centi: np.ndarray) -> bool:
    """Within each run (rows bounds[i]..bounds[i+1]), is every instant later than the one
    before, and every index neither lower nor rising faster than the run's limit
    (`rules.too_fast`)? The pairs `rules.all_accepted` checks between the new rows."""
    if len(ts) < 2:
        return True
    lengths = np.diff(bounds)
    limit = np.repeat(max_centi, lengths)[1:]
    inner = np.ones(len(ts) - 1, dtype=bool)
    inner[bounds[1:-1] - 1] = False  # the pair across two runs
    dt, rise, limit = np.diff(ts)[inner], np.diff(vs)[inner], limit[inner]
    if not len(dt):
        return True
    if dt.min() <= 0 or rise.min() < 0:
        return False
    if int(dt.max()) > 2**62 // max(int(limit.max()), 1):
        return False  # would overflow: the row code decides
    # rise × scale ≤ elapsed × limit, for integers: rise ≤ ⌊elapsed × limit / scale⌋
    return bool((rise <= dt * limit // rules.RATE_SCALE).all())


def copy_rows(
    meter_ids: Sequence[int],
    registers: Sequence[str],
    bounds: np.ndarray,
    ts: np.ndarray,
    vs: np.ndarray,
) -> bytes:
    """The rows of PostgreSQL's binary COPY (meter id, register, instant, value) for every
    line, run i being meter_ids[i]'s register registers[i]; no header, no trailer."""
    lengths = np.diff(bounds)
    codes = [register.encode() for register in registers]
    widths = np.repeat(np.array([len(code) for code in codes]), lengths)
    mids = np.repeat(np.array(meter_ids, dtype=np.int64), lengths)
    parts = []
    for width in sorted(set(map(len, codes))):
        rows = widths == width
        layout = np.dtype(
            [
                ("fields", ">i2"),
                ("meter_length", ">i4"),
                ("meter", ">i8"),
                ("register_length", ">i4"),
                ("register", f"S{width}"),
                ("at_length", ">i4"),
                ("at", ">i8"),
                ("value_length", ">i4"),
                ("value", ">i8"),
            ]
        )
        out = np.empty(int(rows.sum()), dtype=layout)
        out["fields"] = 4
        out["meter_length"] = out["at_length"] = out["value_length"] = 8
        out["register_length"] = width
        out["meter"] = mids[rows]
        run_codes = np.array([code if len(code) == width else b"" for code in codes], f"S{width}")
        out["register"] = np.repeat(run_codes, lengths)[rows]
        out["at"] = ts[rows] - PG_EPOCH_US
        out["value"] = vs[rows]
        parts.append(out.tobytes())
    return b"".join(parts)
