"""Types of the C module ``_headsplit.c`` (``make core`` compiles it)."""

from collections.abc import Callable

def split_register(
    data: bytes,
    max_size: int,
    known: dict[str, str],
    canonical: Callable[[str], str],
    /,
) -> tuple[str, tuple[tuple[str, str], ...], dict[str, str]] | None: ...
