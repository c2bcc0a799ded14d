"""Bounded memos for the parsers: a dict read first, ``memoised`` on a miss.

Why not ``functools.lru_cache``: its wrapper is called through the generic call
protocol (an argument tuple per call), and in the compiled core that cost more than
the lookup it wraps: 4% of a SIP worker's CPU under load in ``fastlane._checked``
alone, which calls four memoised parsers per REGISTER (bench/HISTORY.md,
2026-12-07). A memo here is a module-level dict the caller reads with ``get``, a
lookup the compiled code makes directly, and fills with ``memoised``.
"""

from __future__ import annotations

from typing import TypeVar

#: Entries a memo holds before it starts over.
MEMO_SIZE = 16384

_T = TypeVar("_T")


def memoised(memo: dict[str, _T], key: str, value: _T, size: int = MEMO_SIZE) -> _T:
    """Put ``value`` in ``memo`` under ``key`` and return it.

    A full memo is emptied first rather than trimmed least recently used: what the
    phones registering now send fills it again at once, it stays bounded, and the
    work per call is constant.
    """
    if len(memo) >= size:
        memo.clear()
    memo[key] = value
    return value
