"""Which errors mean "the database cannot be reached now" (503 with Retry-After) rather than a bug (500)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from telecon.problems import database_unreachable


class DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def wrapped(sqlstate: str | None, kind: type[DBAPIError] = DBAPIError) -> DBAPIError:
    return kind("SELECT 1", {}, DriverError(sqlstate))


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (PoolTimeout("QueuePool limit of size 40 overflow 0 reached, connection timed out"), True),
        (wrapped("57P03"), True),  # the database system is starting up
        (wrapped("57P01"), True),  # terminating connection due to administrator command
        (wrapped("08006"), True),  # connection failure
        (wrapped(None, OperationalError), True),
        (wrapped("23P01", IntegrityError), False),  # an exclusion violation is an answer, not an outage
        (wrapped("40P01"), False),  # a deadlock is a lost race (409 where it can happen), not an outage
        (wrapped(None), False),
        (ValueError("a bug"), False),
    ],
)
def test_outages_are_told_from_bugs(error: BaseException, unreachable: bool) -> None:
    assert database_unreachable(error) is unreachable
