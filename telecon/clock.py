"""What time it is, as one value the app and the worker are given rather than a call each makes.

Every rule that compares with "now" (minimum notice, the join window, throttle windows, housekeeping) takes
``now=`` from the clock ``create_app`` or the worker was built with, so that tests can run the whole service
as of any day, including the days around a change to or from summer time. Timestamps that only record when
something happened (audit events, case-file entries, column defaults) and the staff bearer tokens, whose
expiry PyJWT checks, stay on the system clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware, in UTC."""


def system_clock() -> datetime:
    return datetime.now(UTC)
