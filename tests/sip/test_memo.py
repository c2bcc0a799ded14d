"""The parsers' memos (``pbx.sip.memo``): a repeated text gets the same parsed object,
an error is never memoised, and a memo never holds more than its size."""

from __future__ import annotations

import pytest

from pbx.sip import grammar, message
from pbx.sip.errors import SipError
from pbx.sip.memo import MEMO_SIZE, memoised


def test_memoised_stores_and_starts_over_when_full() -> None:
    memo: dict[str, int] = {}
    assert memoised(memo, "a", 1, size=3) == 1
    memoised(memo, "b", 2, size=3)
    memoised(memo, "c", 3, size=3)
    assert memo == {"a": 1, "b": 2, "c": 3}
    assert memoised(memo, "d", 4, size=3) == 4
    assert memo == {"d": 4}


def test_the_parsers_memoise_by_text() -> None:
    text = "<sip:memo-1@pbx.example>;tag=9"
    first = grammar.parse_name_addr(text, "To")
    assert grammar.parse_name_addr(text, "Contact") is first  # ``where`` names errors only
    assert grammar.parse_uri("sip:memo-2@pbx") is grammar.parse_uri("sip:memo-2@pbx")
    assert grammar.parse_cseq("7 REGISTER") is grammar.parse_cseq("7 REGISTER")
    assert grammar.plain_aor_user("<sip:memo-3@pbx>") == "memo-3"
    assert grammar.plain_aor_user("sip:memo-3@pbx") is None  # not the plain shape
    assert "sip:memo-3@pbx" in grammar._AOR_MEMO  # a None is memoised too
    assert message.display_name("x-memo-header") == "X-Memo-Header"
    assert message.display_name("call-id") == "Call-ID"


def test_errors_are_not_memoised() -> None:
    for _ in range(2):
        with pytest.raises(SipError, match="in Contact"):
            grammar.parse_name_addr("<sip:unclosed@pbx", "Contact")
        with pytest.raises(SipError):
            grammar.parse_uri("sip:a b")
        with pytest.raises(SipError):
            grammar.parse_cseq("x REGISTER")
    assert "<sip:unclosed@pbx" not in grammar._NAME_ADDR_MEMO
    with pytest.raises(SipError, match="in To"):  # the message names the header asked
        grammar.parse_name_addr("<sip:unclosed@pbx", "To")


def test_the_memos_stay_bounded() -> None:
    for n in range(MEMO_SIZE + 10):
        grammar.parse_uri(f"sip:bound-{n}@pbx")
    assert len(grammar._URI_MEMO) <= MEMO_SIZE
    assert grammar.parse_uri(f"sip:bound-{MEMO_SIZE + 9}@pbx").user == f"bound-{MEMO_SIZE + 9}"
    for n in range(1100):
        grammar.parse_cseq(f"{n} REGISTER")
    assert len(grammar._CSEQ_MEMO) <= 1024
