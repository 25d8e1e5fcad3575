"""Pure rules of index readings (RULES.md §4): parsing a row's fields and judging one meter
register's readings in time order against the indexes already known. No database here."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import itemgetter, le, mul, sub

FIELDS = ("ean", "meter", "register", "at", "value", "unit")
FUTURE_TOLERANCE = timedelta(minutes=15)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
# A value is kept in thousandths in a signed 64-bit column.
MAX_MILLI = 10**18
_SCALE = (1000, 100, 10, 1)
# Units as integrators write them, normalised.
UNIT_ALIASES = {"kwh": "kWh", "m3": "m3", "m³": "m3"}

# What `judge` says about a rejected row (the caller turns it into a reason and a sentence).
CONFLICT = "conflict"
DECREASE_BEFORE = "decrease_before"  # lower than an earlier index
DECREASE_AFTER = "decrease_after"  # higher than a later index
JUMP_BEFORE = "jump_before"  # too fast a rise since the earlier index
JUMP_AFTER = "jump_after"  # too fast a rise to the later index


def gettext_noop(text: str) -> str:
    """Marks a sentence for translation (extracted by makemessages); translated where shown."""
    return text


class Malformed(ValueError):
    """A field that cannot be read. `template % params` is the sentence shown to the sender;
    the caller translates the template."""

    def __init__(self, template: str, **params: object):
        super().__init__(template % params)
        self.template = template
        self.params = params


def epoch_us(instant: datetime) -> int:
    return (instant - EPOCH) // US


def from_epoch_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def parse_instant(raw: object) -> datetime:
    """An ISO 8601 instant with an offset, in UTC. Naive instants are ambiguous: refused."""
    if not isinstance(raw, str):
        raise Malformed(
            gettext_noop(
                "Le champ « at » doit être un instant ISO 8601 avec son décalage, p. ex. "
                "2026-11-28T00:00:00+01:00."
            )
        )
    try:
        # CPython's parser stops at a NUL and would take "…+01:00\x00junk" as an instant.
        if "\x00" in raw:
            raise ValueError
        instant = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Malformed(
            gettext_noop(
                "« %(raw)s » n'est pas un instant ISO 8601 : écrivez p. ex. "
                "2026-11-28T00:00:00+01:00."
            ),
            raw=raw[:40],
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise Malformed(
            gettext_noop(
                "L'instant « %(raw)s » n'a pas de décalage : ajoutez-le, p. ex. +01:00 (hiver) "
                "ou +02:00 (été) en Belgique."
            ),
            raw=raw[:40],
        )
    return instant.astimezone(UTC)


def parse_value_milli(raw: object) -> int:
    """An index as a decimal string (or a JSON number) → integer thousandths of its unit."""
    if type(raw) is str:
        whole, dot, frac = raw.partition(".")
        # Fast path for the usual "1234.567": plain ASCII digits, at most 3 decimals.
        if (
            whole.isascii()
            and whole.isdigit()
            and len(whole) <= 15
            and (not dot or (frac.isascii() and frac.isdigit() and len(frac) <= 3))
        ):
            return int(whole) * 1000 + (int(frac) * _SCALE[len(frac)] if frac else 0)
        if not raw.strip():
            raise Malformed(gettext_noop("Le champ « value » manque."))
        try:
            if not raw.isascii():  # Decimal would read other scripts' digits
                raise InvalidOperation
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise Malformed(
                gettext_noop(
                    'La valeur « %(raw)s » n\'est pas un nombre : écrivez p. ex. "1234.567".'
                ),
                raw=raw[:40],
            ) from None
    elif raw is None:
        raise Malformed(gettext_noop("Le champ « value » manque."))
    elif isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise Malformed(
            gettext_noop(
                'Le champ « value » doit être un nombre décimal en texte, comme "1234.567".'
            )
        )
    elif isinstance(raw, float):
        number = Decimal(repr(raw))  # the JSON text as written, not the binary float
    else:
        number = Decimal(raw)
    shown = str(raw)[:40]
    if not number.is_finite():
        raise Malformed(
            gettext_noop('La valeur « %(raw)s » n\'est pas un nombre : écrivez p. ex. "1234.567".'),
            raw=shown,
        )
    if number < 0:
        raise Malformed(
            gettext_noop("La valeur %(raw)s est négative : un index n'est jamais sous zéro."),
            raw=shown,
        )
    milli = number * 1000
    if milli != milli.to_integral_value():
        raise Malformed(
            gettext_noop("La valeur %(raw)s a plus de 3 décimales : arrondissez-la au millième."),
            raw=shown,
        )
    if milli >= MAX_MILLI:
        raise Malformed(gettext_noop("La valeur %(raw)s est trop grande pour un index."), raw=shown)
    return int(milli)


def format_milli(milli: int) -> str:
    """Thousandths → "1234.567"."""
    return f"{milli // 1000}.{milli % 1000:03d}"


def normalise_unit(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    return UNIT_ALIASES.get(raw.strip().lower())


def limit_centi(limit: Decimal) -> int:
    """A DSO limit (kW or m³/h, 2 decimals) in hundredths, for exact integer comparisons."""
    return int(limit * 100)


RATE_SCALE = 360_000_000  # 3.6e9 µs an hour × 100 (hundredths of the limit) / 1000 (thousandths)


def too_fast(rise_milli: int, elapsed_us: int, max_centi: int) -> bool:
    """Is the mean rate over the interval above the limit? kWh per hour = kW; m³ per hour.

    rate = (rise_milli / 1000) / (elapsed_us / 3.6e9 h) > max_centi / 100, in integers.
    """
    return rise_milli * RATE_SCALE > max_centi * elapsed_us


Rejected = tuple[int, str, int, int]  # (position in batch, kind, other instant us, other value)


def judge(
    known_at: Sequence[int],
    known_value: Sequence[int],
    candidates: list[tuple[int, int, int]],
    max_centi: int,
) -> tuple[list[tuple[int, int, int]], list[int], list[Rejected]]:
    """Judge one meter register's new readings against the indexes already stored.

    `known_at`/`known_value`: the stored readings around the candidates, sorted by instant (all
    of them inside the candidates' span, plus the nearest one on each side). `candidates`:
    (instant us, position in batch, value milli). Rows are judged in time order (then batch
    order), each against the latest accepted-or-stored index before it and the stored index
    after it, so a batch sent out of order is judged as if it had come in order.

    Returns (accepted candidates, duplicate positions, rejected rows).
    """
    candidates.sort()
    if all_accepted(known_at, known_value, candidates, max_centi):
        return candidates, [], []
    return walk(known_at, known_value, candidates, max_centi)


def walk(
    known_at: Sequence[int],
    known_value: Sequence[int],
    candidates: list[tuple[int, int, int]],
    max_centi: int,
) -> tuple[list[tuple[int, int, int]], list[int], list[Rejected]]:
    """`judge` row by row over sorted candidates: what it does whenever a row may be refused
    (and, by definition, what its shortcut for clean series must agree with)."""
    accepted: list[tuple[int, int, int]] = []
    duplicates: list[int] = []
    rejected: list[Rejected] = []
    n = len(known_at)
    have_last, last_t, last_v = False, 0, 0  # the latest row accepted in this walk
    for t, pos, v in candidates:
        j = bisect_left(known_at, t) if n else 0
        if j < n and known_at[j] == t:
            if known_value[j] == v:
                duplicates.append(pos)
            else:
                rejected.append((pos, CONFLICT, t, known_value[j]))
            continue
        if have_last and t == last_t:
            if v == last_v:
                duplicates.append(pos)
            else:
                rejected.append((pos, CONFLICT, t, last_v))
            continue
        # The index just before: stored, or accepted earlier in this walk, whichever is later.
        has_prev = True
        if j and (not have_last or known_at[j - 1] > last_t):
            prev_t, prev_v = known_at[j - 1], known_value[j - 1]
        elif have_last:
            prev_t, prev_v = last_t, last_v
        else:
            has_prev = False
        if has_prev:
            if v < prev_v:
                rejected.append((pos, DECREASE_BEFORE, prev_t, prev_v))
                continue
            if too_fast(v - prev_v, t - prev_t, max_centi):
                rejected.append((pos, JUMP_BEFORE, prev_t, prev_v))
                continue
        if j < n:
            next_t, next_v = known_at[j], known_value[j]
            if v > next_v:
                rejected.append((pos, DECREASE_AFTER, next_t, next_v))
                continue
            if too_fast(next_v - v, next_t - t, max_centi):
                rejected.append((pos, JUMP_AFTER, next_t, next_v))
                continue
        accepted.append((t, pos, v))
        have_last, last_t, last_v = True, t, v
    return accepted, duplicates, rejected


_first, _third = itemgetter(0), itemgetter(2)


def all_accepted(
    known_at: Sequence[int],
    known_value: Sequence[int],
    candidates: list[tuple[int, int, int]],
    max_centi: int,
) -> bool:
    """Would the walk of `judge` accept every (sorted) candidate? True only when it surely
    would: no stored index inside the candidates' span, no two at one instant, and every two
    neighbours in time — the stored index before, the candidates, the stored index after — with
    no decrease and no rise faster than the limit. Then each candidate is checked by the walk
    against exactly its neighbours, and against the next stored index over a span whose mean
    rate is at most the largest of its parts: all pass. Whole-list operations, no loop here:
    most batches are clean, and this is what makes judging them cheap."""
    if not candidates:
        return False
    first, last = candidates[0][0], candidates[-1][0]
    j = bisect_left(known_at, first)
    if bisect_right(known_at, last) != j:
        return False  # a stored index inside the span: the walk decides
    ts = list(map(_first, candidates))
    vs = list(map(_third, candidates))
    if j:
        ts.insert(0, known_at[j - 1])
        vs.insert(0, known_value[j - 1])
    if j < len(known_at):
        ts.append(known_at[j])
        vs.append(known_value[j])
    if len(ts) < 2:
        return True
    dt = list(map(sub, ts[1:], ts))
    rise = list(map(sub, vs[1:], vs))
    return (
        min(dt) > 0
        and min(rise) >= 0
        # not too_fast(rise, dt, max_centi) for every pair, as whole lists
        and all(map(le, map(mul, rise, repeat(RATE_SCALE)), map(mul, dt, repeat(max_centi))))
    )
