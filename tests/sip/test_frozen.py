"""The core's immutable value classes (``pbx.sip.frozen``): built by a written-out
``__init__``, they must still behave as frozen dataclasses did, compiled or not."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from pbx.phones.sighting import Sighting
from pbx.sip.digest import Credentials
from pbx.sip.endpoint import Outcome
from pbx.sip.events import AuthFailed, BindingCreated, BindingRefreshed, Registered, Source
from pbx.sip.frozen import assign_once, refuse_delete
from pbx.sip.grammar import CSeq, NameAddr, Uri
from pbx.sip.response import Destination

SOURCE = Source("192.0.2.1", 5060, "udp")
URI = Uri("sip", "100", "pbx.example", 5060, (("transport", "udp"),))
BINDING = ("100", SOURCE, "ua", "<sip:100@h>", "sip:100@h", (), "cid", 60, 1.0, ())

# (an instance, the keyword arguments to build an equal one, a field and another value)
CASES: list[tuple[object, dict[str, Any], str, object]] = [
    (SOURCE, {"host": "192.0.2.1", "port": 5060, "transport": "udp"}, "port", 5061),
    (URI, {"scheme": "sip", "user": "100", "host": "pbx.example", "port": 5060,
           "params": (("transport", "udp"),)}, "user", "200"),
    (NameAddr(None, "sip:100@h", URI, (), True),
     {"display": None, "uri_text": "sip:100@h", "uri": URI, "params": (), "bracketed": True},
     "display", "Desk"),
    (CSeq(7, "REGISTER"), {"seq": 7, "method": "REGISTER"}, "seq", 8),
    (Credentials("u", "pbx", "n", "sip:pbx", "r"),
     {"username": "u", "realm": "pbx", "nonce": "n", "uri": "sip:pbx", "response": "r"},
     "nc", "00000001"),
    (BindingCreated(*BINDING), dict(zip(
        ("extension", "source", "user_agent", "contact", "contact_uri", "contact_params",
         "call_id", "expires", "at", "headers"), BINDING, strict=True)), "expires", 30),
    (AuthFailed("100", SOURCE, None, "bad", 1.0),
     {"extension": "100", "source": SOURCE, "user_agent": None, "reason": "bad", "at": 1.0},
     "reason", "stale"),
    (Registered("100", SOURCE, None, (), 1.0),
     {"extension": "100", "source": SOURCE, "user_agent": None, "contacts": (), "at": 1.0},
     "contacts", ("<sip:100@h>",)),
    (Outcome(b"x", Destination("h", 1)), {"data": b"x", "destination": Destination("h", 1)},
     "status", 401),
    (Sighting("100", "192.0.2.1", None, None, None, datetime(2026, 1, 1, tzinfo=UTC)),
     {"extension": "100", "ip_address": "192.0.2.1", "mac_address": None,
      "user_agent": None, "contact_uri": None, "at": datetime(2026, 1, 1, tzinfo=UTC)},
     "user_agent", "Desk phone"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "kwargs", "field", "other"), CASES, ids=[type(c[0]).__name__ for c in CASES]
)
def test_behaves_as_a_frozen_dataclass(
    value: object, kwargs: dict[str, Any], field: str, other: object
) -> None:
    twin = type(value)(**kwargs)
    assert twin == value and hash(twin) == hash(value)
    assert repr(value).startswith(f"{type(value).__name__}(")
    with pytest.raises(FrozenInstanceError):
        setattr(value, field, getattr(value, field))
    with pytest.raises(FrozenInstanceError):
        delattr(value, field)
    with pytest.raises(FrozenInstanceError):
        value.not_a_field = 1  # type: ignore[attr-defined]
    changed = dataclasses.replace(value, **{field: other})  # type: ignore[type-var]
    assert getattr(changed, field) == other and changed != value


def test_event_kinds_with_the_same_fields_differ() -> None:
    assert BindingCreated(*BINDING) != BindingRefreshed(*BINDING)


@dataclass(init=False)
class _Interpreted:
    """What an immutable class does when its module runs interpreted: ``__init__``
    assignments come through ``__setattr__``."""

    a: int
    b: tuple[int, ...] = ()

    def __init__(self, a: int, b: tuple[int, ...] = ()) -> None:
        self.a = a
        self.b = b

    def __setattr__(self, name: str, value: object) -> None:
        assign_once(self, name, value)

    def __delattr__(self, name: str) -> None:
        refuse_delete(name)


def test_interpreted_init_sets_each_field_once_even_over_a_class_default() -> None:
    value = _Interpreted(1, (2,))
    assert (value.a, value.b) == (1, (2,))
    for name in ("a", "b", "c"):
        with pytest.raises(FrozenInstanceError):
            setattr(value, name, 3)
    with pytest.raises(FrozenInstanceError):
        del value.a
