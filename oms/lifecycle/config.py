"""Lifecycle settings that are parsed from the environment (pure: imported by oms/settings.py)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ImproperlyConfigured

DEFAULT_RETENTION_DAYS = {"orders": 90, "executions": 90, "quote-requests": 30, "quotes": 30}


def parse_retention(raw: str, defaults: dict[str, int] | None = None) -> dict[str, int]:
    """`"orders=30,quotes=7"` over the defaults; a malformed entry fails loudly."""
    out = dict(DEFAULT_RETENTION_DAYS if defaults is None else defaults)
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        name, sep, days = item.partition("=")
        name = name.strip()
        if not sep or name not in out:
            raise ImproperlyConfigured(
                f"OMS_RETENTION_DAYS entry {item!r}: use type=days with type one of {', '.join(out)}"
            )
        try:
            value = int(days)
        except ValueError:
            raise ImproperlyConfigured(
                f"OMS_RETENTION_DAYS entry {item!r}: days must be an integer"
            ) from None
        if value < 1:
            raise ImproperlyConfigured(f"OMS_RETENTION_DAYS entry {item!r}: at least 1 day")
        out[name] = value
    return out


def parse_time_of_day(raw: str, name: str = "OMS_TRADING_DAY_END_UTC") -> dt.time:
    try:
        hours, minutes = raw.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected HH:MM (UTC)") from None
