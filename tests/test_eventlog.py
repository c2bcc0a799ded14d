"""The audit trail: one JSON line per event; refreshes only at DEBUG."""

from __future__ import annotations

import json
import logging

import pytest

from pbx.eventlog import log_events
from pbx.sip.events import (
    AuthFailed,
    BindingCreated,
    BindingExpired,
    BindingRefreshed,
    Registered,
    Source,
)

SRC = Source("2001:db8::5", 5062, "tcp")


def binding(kind: type[BindingCreated] | type[BindingRefreshed] | type[BindingExpired]) -> object:
    return kind(
        extension="1001",
        source=SRC,
        user_agent="Yealink SIP-T46S",
        contact="<sip:1001@[2001:db8::5]:5062;transport=tcp>;expires=600",
        contact_uri="sip:1001@[2001:db8::5]:5062;transport=tcp",
        contact_params=(("expires", "600"), ("+sip.instance", "<urn:uuid:x>")),
        call_id="c1",
        expires=600,
        at=1.0,
    )


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, object]]]:
    return [
        (r.levelno, json.loads(r.getMessage())) for r in caplog.records if r.name == "pbx.events"
    ]


def test_each_event_is_one_json_line_with_source_and_contact(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pbx.events")
    failed = AuthFailed("1002", SRC, "x", "wrong password", 2.0)
    summary = Registered("1001", SRC, "Yealink SIP-T46S", ("<sip:1001@h>",), 1.0)
    log_events((binding(BindingCreated), summary, failed))  # type: ignore[arg-type]
    got = lines(caplog)
    assert [record["event"] for _, record in got] == ["BindingCreated", "AuthFailed"]
    level, created = got[0]
    assert level == logging.INFO
    assert created == {
        "event": "BindingCreated",
        "extension": "1001",
        "transport": "tcp",
        "ip": "2001:db8::5",
        "port": 5062,
        "user_agent": "Yealink SIP-T46S",
        "contact": "<sip:1001@[2001:db8::5]:5062;transport=tcp>;expires=600",
        "contact_params": {"expires": "600", "+sip.instance": "<urn:uuid:x>"},
        "expires": 600,
    }
    assert got[1][1]["reason"] == "wrong password"


def test_refreshes_are_debug_and_news_is_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pbx.events")
    log_events((binding(BindingRefreshed), binding(BindingExpired)))  # type: ignore[arg-type]
    assert [(lvl, rec["event"]) for lvl, rec in lines(caplog)] == [(logging.INFO, "BindingExpired")]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="pbx.events")
    log_events((binding(BindingRefreshed),))  # type: ignore[arg-type]
    assert [(lvl, rec["event"]) for lvl, rec in lines(caplog)] == [
        (logging.DEBUG, "BindingRefreshed")
    ]
