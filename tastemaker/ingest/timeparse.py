"""Timestamps of listening logs, converted to the store's convention: naive UTC.

Sources write times in several shapes: ``2020-04-18T13:41:44Z`` (Spotify
Extended Streaming History, Last.fm), ``2020-04-18 13:41`` in local time
(Spotify account data), ISO 8601 with an offset, and Unix epoch seconds
(ListenBrainz). A value with an offset or ``Z`` is converted with that offset.
A value without one is read in the zone the caller names, which is UTC for
formats documented as UTC. A time before 2000 or more than one day after the
ingest is implausible for a streaming log and is rejected by the callers.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

UTC = "UTC"
MIN_PLAUSIBLE = datetime(2000, 1, 1)
# Allows for a client clock that runs ahead and for a wrong --timezone, whose
# error is at most 14 hours.
FUTURE_TOLERANCE = timedelta(days=1)
# Epoch values above this are milliseconds: 1e11 seconds is the year 5138.
EPOCH_MILLISECONDS_FROM = 10**11

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_EPOCH = datetime(1970, 1, 1)
_MICROSECONDS = 1_000_000


def resolve_zone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone (or UTC); raise InputError otherwise."""
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or America/New_York, or UTC"
        ) from exc
    return name


def parse_timestamp_text(text: str) -> tuple[datetime, bool]:
    """Parse one ISO 8601 date and time; return it naive and whether it carried an offset.

    A value with an offset is returned in UTC. Raises ValueError naming the
    expected shapes when ``text`` has another shape.
    """
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            "invalid timestamp: expected YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM, optionally with Z or an offset"
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), microsecond)
    except ValueError as exc:
        raise ValueError(f"invalid timestamp: {exc}") from None
    if offset is None:
        return value, False
    if offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        shift = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        if shift > timedelta(hours=18):
            raise ValueError(f"invalid timestamp: offset {offset} is beyond +/-18:00")
        value = value - sign * shift
    return value, True


def parse_times(values: Sequence | pa.Array, zone: str = UTC, fast_format: str | None = None,
                epoch_unit: str = "s") -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Parse a column of times into microseconds since the epoch, UTC.

    Text goes through ``fast_format`` (an Arrow strptime format) first and the
    general ISO 8601 parser after. Integers and floats are epoch seconds, or
    milliseconds when ``epoch_unit`` is "auto" and the value is large. Values
    without an offset are read in ``zone``. Returns the values, a mask of
    parsed entries and a reason for each entry that is present but invalid;
    None entries are neither valid nor listed.
    """
    n = len(values)
    micros = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    local = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}

    others: list[int] = []
    if isinstance(values, pa.Array) and pa.types.is_integer(values.type):
        numbers = np.asarray(values.fill_null(0), dtype=np.int64)
        valid = ~np.asarray(values.is_null(), dtype=bool)
        if epoch_unit == "auto":
            milliseconds = np.abs(numbers) >= EPOCH_MILLISECONDS_FROM
            micros = np.where(milliseconds, numbers * 1000, numbers * _MICROSECONDS)
        else:
            micros = numbers * _MICROSECONDS
        out_of_range = valid & (np.abs(numbers) >= 2**40 * (1000 if epoch_unit == "auto" else 1))
        for i in np.flatnonzero(out_of_range):
            errors[int(i)] = f"invalid timestamp: epoch value {int(numbers[i])} is out of range"
        return micros, valid & ~out_of_range, errors
    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        texts = values
    else:
        try:
            texts = pa.array(values, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            texts = pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
            others = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]

    present = ~np.asarray(texts.is_null(), dtype=bool)
    if fast_format is not None and present.any():
        parsed = pc.strptime(texts, format=fast_format, unit="us", error_is_null=True)
        ok = ~np.asarray(parsed.is_null(), dtype=bool)
        if ok.any() and fast_format.startswith("%Y-%m-%d"):
            # Arrow's strptime rolls 2020-02-30 over to March 1; such a day
            # differs from the parsed one and goes to the strict parser.
            written_day = pc.cast(pc.utf8_slice_codeunits(texts.filter(ok), 8, 10), pa.int64())
            ok[ok] = np.asarray(pc.equal(written_day, pc.day(parsed.filter(ok))), dtype=bool)
        micros[ok] = np.asarray(parsed.cast(pa.int64()).fill_null(0))[ok]
        valid |= ok
        local |= ok
    for i in np.flatnonzero(present & ~valid):
        text = texts[int(i)].as_py()
        try:
            value, has_offset = parse_timestamp_text(text)
        except ValueError as exc:
            errors[int(i)] = f"{exc}, found {text!r}"
            continue
        micros[i] = _to_micros(value)
        valid[i] = True
        local[i] = not has_offset

    for i in others:
        value = values[i]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            errors[i] = f"invalid timestamp: expected text or epoch seconds, found {type(value).__name__} {value!r}"
            continue
        seconds = value / 1000 if epoch_unit == "auto" and abs(value) >= EPOCH_MILLISECONDS_FROM else value
        if not -(2**40) < seconds < 2**40:
            errors[i] = f"invalid timestamp: epoch value {value!r} is out of range"
            continue
        micros[i] = int(round(seconds * _MICROSECONDS))
        valid[i] = True

    if zone != UTC and local.any():
        micros[local] = local_to_utc(micros[local], zone)
    return micros, valid, errors


def local_to_utc(micros: np.ndarray, zone: str) -> np.ndarray:
    """Convert naive local times in ``zone`` to UTC, all as microseconds since the epoch.

    NOTE: a time that is ambiguous when the clocks go back is read as the
    earlier instant. A time that does not exist when they go forward becomes
    the first instant after the gap (Arrow's "earliest" and "latest" rules).
    """
    naive = pa.array(micros, type=pa.timestamp("us"))
    aware = pc.assume_timezone(naive, timezone=zone, ambiguous="earliest", nonexistent="latest")
    return np.asarray(aware.cast(pa.int64()))


def implausible_reasons(micros: np.ndarray, valid: np.ndarray, now: datetime | None = None) -> dict[int, str]:
    """Return a reason for each valid time before 2000 or in the future."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    low = _to_micros(MIN_PLAUSIBLE)
    high = _to_micros(now + FUTURE_TOLERANCE)
    reasons: dict[int, str] = {}
    for i in np.flatnonzero(valid & ((micros < low) | (micros > high))):
        when = format_micros(int(micros[i]))
        side = "before 2000" if micros[i] < low else "in the future"
        reasons[int(i)] = f"implausible time: {when} UTC is {side}"
    return reasons


def format_micros(value: int) -> str:
    try:
        return (_EPOCH + timedelta(microseconds=value)).isoformat(sep=" ")
    except OverflowError:
        return f"{value} microseconds after 1970"


def micros_array(micros: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Return the values as an Arrow timestamp[us] column; invalid entries become NULL."""
    mask = None if valid is None else ~valid
    return pa.array(micros, type=pa.timestamp("us"), mask=mask)


def _to_micros(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _MICROSECONDS + delta.microseconds
