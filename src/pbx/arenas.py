"""Keep the small-object allocator's freed arenas for reuse (``_arenas.c`` says why).

``keep_arenas`` is called once per process at the end of start-up (``app.tune_gc``).
Without the compiled module (``make clean-core``) it does nothing: the process then
runs as plain CPython does, giving every emptied arena back to the system.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("pbx._arenas")
    except ImportError:  # not compiled: nothing to install
        return None


_arenas = _compiled()

#: Freed arenas (1 MiB each) a process keeps for reuse: above a SIP worker's working
#: size at the bench's highest rates (200 to 300 MiB: 200,000 answered transactions,
#: 100,000 nonces, the bindings), well below the machine's memory.
KEPT_ARENAS = 512


def keep_arenas(limit: int = KEPT_ARENAS) -> bool:
    """Keep up to ``limit`` freed arenas in this process; False when not compiled."""
    if _arenas is None:
        return False
    _arenas.install(limit)
    return True


def arena_stats() -> dict[str, int]:
    """What the allocator did (installed, limit, kept, reused, mapped, unmapped);
    empty when not compiled."""
    return dict(_arenas.stats()) if _arenas is not None else {}
