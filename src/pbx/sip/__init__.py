"""The sans-IO SIP core (standard library only).

``make core`` compiles these modules with mypyc into extension modules beside their
sources (``make run`` and ``make test`` do it): Python prefers an extension module to
a source file of the same name, and the core then costs about a third less CPU per
registration (bench/README.md). The sources stay the truth; nothing else changes.

Why the check below: an extension module older than the source it was compiled from
would silently run the old code, in the service and in the tests alike. Importing
the package refuses that, with the command that fixes it.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path


def stale_extensions(folder: Path) -> list[str]:
    """Extension modules in ``folder`` compiled before their ``.py`` last changed."""
    stale: list[str] = []
    for suffix in EXTENSION_SUFFIXES:
        for compiled in folder.glob(f"*{suffix}"):
            source = folder / (compiled.name[: -len(suffix)] + ".py")
            if source.exists() and source.stat().st_mtime > compiled.stat().st_mtime:
                stale.append(compiled.name)
    return sorted(stale)


def _refuse_stale() -> None:
    stale = stale_extensions(Path(__file__).parent)
    if stale:
        raise ImportError(
            f"pbx.sip: {', '.join(stale)} compiled from an older source; "
            "run `make core` to compile again, or `make clean-core` to run from source"
        )


_refuse_stale()
