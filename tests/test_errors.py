"""Which database errors mean 'retry later' (503) rather than a bug (500)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from app.errors import is_database_down


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "down"),
    [
        ("53200", True),  # out of shared memory: the lock table is full
        ("53300", True),  # too many connections
        ("57P01", True),  # admin shutdown
        ("57P03", True),  # cannot connect now (starting up)
        ("57014", True),  # statement cancelled: statement_timeout or an operator
        ("23505", False),  # a unique violation is a bug, not an outage
        ("42601", False),  # syntax error
    ],
)
def test_unavailable_sqlstates_are_database_down(sqlstate, down):
    error = DBAPIError("SELECT 1", {}, _DriverError(sqlstate))
    assert is_database_down(error) is down
