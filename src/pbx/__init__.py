"""pbx: a SIP registrar that keeps an inventory of every phone that registers.

``make core`` compiles the per-packet modules (scripts/compiled-modules.txt) with
mypyc, and the steps written in C (``sip/_*.c``, each with a Python twin that is
the reference), into extension modules beside their sources; ``make run``, ``make test`` and
``make bench`` do it first. Python prefers an extension module to a source file of
the same name, and a registration then costs markedly less CPU (bench/README.md).
The sources stay the truth: every test runs against the compiled modules too.

Why the check below: an extension module older than the source it was compiled from
would silently run the old code, in the service and in the tests alike. Importing
pbx refuses that, with the command that fixes it.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

__version__ = "0.1.0"


def stale_extensions(folder: Path) -> list[str]:
    """Extension modules under ``folder`` compiled before their ``.py`` (or, for a
    module written in C, their ``.c``) last changed, as paths relative to it."""
    stale: list[str] = []
    for suffix in EXTENSION_SUFFIXES:
        for compiled in folder.rglob(f"*{suffix}"):
            stem = compiled.name[: -len(suffix)]
            source = compiled.with_name(stem + ".py")
            if not source.exists():
                source = compiled.with_name(stem + ".c")  # a module written in C
            if source.exists() and source.stat().st_mtime > compiled.stat().st_mtime:
                stale.append(str(compiled.relative_to(folder)))
    return sorted(set(stale))


def _refuse_stale() -> None:
    stale = stale_extensions(Path(__file__).parent)
    if stale:
        raise ImportError(
            f"pbx: {', '.join(stale)} compiled from an older source; "
            "run `make core` to compile again, or `make clean-core` to run from source"
        )


_refuse_stale()
