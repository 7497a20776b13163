"""Billing periods counted from the original anchor (month ends clamp, never drift)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta


def add_months(anchor: datetime, months: int) -> datetime:
    month_index = anchor.month - 1 + months
    year = anchor.year + month_index // 12
    month = month_index % 12 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_boundary(anchor: datetime, period_type: str, interval: int, periods: int) -> datetime:
    """The start of period `periods + 1`: anchor + periods × interval × period_type.

    Always computed from the anchor, so Jan 31 -> Feb 29 -> Mar 31 (not Mar 29).
    """
    units = interval * periods
    if period_type == "DAILY":
        return anchor + timedelta(days=units)
    if period_type == "WEEKLY":
        return anchor + timedelta(weeks=units)
    if period_type == "MONTHLY":
        return add_months(anchor, units)
    raise ValueError(f"unknown period type {period_type}")
