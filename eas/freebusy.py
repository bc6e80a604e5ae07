"""Free/busy as ResolveRecipients reports it (MS-ASCMD 2.2.3.107 MergedFreeBusy).

One digit per 30-minute slot from the requested start: 0 free, 1 tentative, 2 busy, 3 out of office,
4 no data.  The number of digits is the span divided by 30 minutes, rounded up, so the last digit
may stand for less than 30 minutes.  An appointment marks every slot it overlaps, even by a second,
and inside a slot the highest digit wins.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

FREE, TENTATIVE, BUSY, OOF, NO_DATA = 0, 1, 2, 3, 4
SLOT = timedelta(minutes=30)

# MS-ASCAL BusyStatus → MergedFreeBusy digit.  BusyStatus 4 (working elsewhere, 16.0+) has no digit of
# its own; it counts as free, the person being available, only not at the office.
BUSY_STATUS_DIGIT = {0: FREE, 1: TENTATIVE, 2: BUSY, 3: OOF, 4: FREE}

Interval = tuple[datetime, datetime, int]  # (start, end, MS-ASCAL BusyStatus)


def slot_count(start: datetime, end: datetime) -> int:
    return max(0, math.ceil((end - start) / SLOT))


def merged_free_busy(start: datetime, end: datetime, intervals: Iterable[Interval] | None) -> str:
    """The MergedFreeBusy string for [start, end); `intervals` None means no data at all."""
    count = slot_count(start, end)
    if intervals is None:
        return str(NO_DATA) * count
    digits = [FREE] * count
    last_slot = count - 1
    for begin, finish, busy_status in intervals:
        digit = BUSY_STATUS_DIGIT.get(busy_status, BUSY)
        lo, hi = max(begin, start), min(finish, end)
        if hi <= lo or digit == FREE:
            continue
        # Whole-number division of timedeltas: exact, and a full calendar gives thousands of these.
        first = (lo - start) // SLOT
        last = min(-((start - hi) // SLOT) - 1, last_slot)  # the slot holding hi's last instant
        for i in range(first, last + 1):
            if digits[i] < digit:
                digits[i] = digit
    return "".join(map(str, digits))
