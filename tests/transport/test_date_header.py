"""The Date header of a 200 OK: RFC 1123 in GMT, from the clock it is given, and a new
value as soon as the clock enters another second."""

from __future__ import annotations

import email.utils
import time

from pbx.transport.date_header import DateHeader


def test_formats_the_clock_in_rfc_1123_gmt() -> None:
    assert DateHeader(lambda: 0.0)() == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert DateHeader(lambda: 1795910400.75)() == email.utils.formatdate(1795910400, usegmt=True)


def test_follows_the_clock_from_one_second_to_the_next() -> None:
    now = [1795910400.1]
    date = DateHeader(lambda: now[0])
    first = date()
    now[0] = 1795910400.9
    assert date() == first, "another value within the same second"
    now[0] = 1795910401.0
    assert date() == email.utils.formatdate(1795910401, usegmt=True)
    now[0] = 1795910400.5  # the wall clock stepped back (NTP): it is followed
    assert date() == first


def test_the_default_clock_is_the_wall_clock() -> None:
    parsed = email.utils.parsedate_to_datetime(DateHeader()())
    assert parsed.tzinfo is not None
    assert abs(parsed.timestamp() - time.time()) < 5
