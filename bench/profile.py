"""Where pbx spends its time under load: py-spy, sampling the running server.

py-spy (``pip install py-spy`` into .venv) attaches to the pbx process by pid while
sipp drives it near its best rate, records raw (collapsed) stacks and this module
ranks them: by *own* time and by *inclusive* time (any frame on the stack). Without
py-spy the step is skipped.

``--native``: the per-packet modules are compiled with mypyc (``make core``), and
their functions are C functions that py-spy sees only in native mode (as
``CPyDef_<module>___<function>``, named here ``module.function [C]``). Native
sampling pauses the process for each sample, which is why the profiled rung is not
counted. *Own* time is that of the innermost pbx function on the stack, with the
interpreter, library and system-call time it causes (``sendmsg`` in the kernel,
``_PyObject_Malloc`` ...); a stack with no pbx function counts as its leaf frame,
except one whose leaf py-spy could not name (a bare address in the C library): that
is how a thread blocked in the C library shows in native mode (the main process's
database writer waiting for work), not CPU, and it is left out of the total.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
#: mypyc's name for the C function of a compiled Python function; ``CPyPy_`` is the
#: wrapper Python callers go through (left out: it would count every call twice).
_COMPILED = "CPyDef_"
_WRAPPER = "CPyPy_"
_UNNAMED = re.compile(r"0x[0-9a-f]+ \(")
#: Seconds per py-spy recording (``run._profile`` records one window after another).
WINDOW_S = 5


def py_spy() -> str | None:
    """The py-spy binary next to the harness's Python, or on PATH."""
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def start(pid: int, seconds: int, out: Path, gil: bool = False) -> subprocess.Popen[bytes] | None:
    """Begin recording ``pid`` for ``seconds``; None when py-spy is not installed.

    ``gil``: sample only the thread holding the interpreter lock, which is what one
    pbx process runs out of first."""
    binary = py_spy()
    if binary is None:
        return None
    command = [
        binary, "record", "--pid", str(pid), "--duration", str(seconds),
        "--rate", "100", "--format", "raw", "--native", "-o", str(out),
        "--subprocesses",  # pbx's SIP workers
        *(["--gil"] if gil else []),
    ]  # fmt: skip
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    if match["func"].startswith(_COMPILED):
        return match["func"][len(_COMPILED) :].replace("___", ".") + " [C]"
    file = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['func']} ({file})"


def _ours(frame: str) -> bool:
    return "(pbx/" in frame or frame.endswith(" [C]")


def top(raws: Sequence[Path], n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The ``n`` heaviest functions by own share of samples (see the module
    docstring) and by inclusive share (pbx's own functions), over every recording
    in ``raws`` that was written."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    lines = [
        line
        for raw in raws
        if raw.exists()
        for line in raw.read_text(errors="replace").splitlines()
    ]
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            _short(f)
            for f in stack.split(";")
            if f and not f.startswith(("process ", "thread ", _WRAPPER))
        ]
        if not frames:
            continue
        mine = next((f for f in reversed(frames) if _ours(f)), None)
        if mine is None and _UNNAMED.match(frames[-1]):
            continue  # blocked in the C library (see the module docstring)
        total += count
        own[mine or frames[-1]] += count
        for frame in set(frames):
            if _ours(frame):  # the generic frames above ours are on every stack
                inclusive[frame] += count
    if total == 0:
        return {"self": [], "inclusive": []}
    return {
        "self": [(f, c / total) for f, c in own.most_common(n)],
        "inclusive": [(f, c / total) for f, c in inclusive.most_common(n)],
    }
