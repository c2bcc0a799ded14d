"""Where pbx spends its time under load: py-spy, sampling the running server.

py-spy (``pip install py-spy`` into .venv) attaches to the pbx process by pid while
sipp drives it near its best rate, records raw (collapsed) stacks and this module
ranks them: by *self* time (the leaf frame, where the CPU actually is) and by
*inclusive* time (any frame on the stack). Without py-spy the step is skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


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
        "--rate", "100", "--format", "raw", "--nonblocking", "-o", str(out),
        "--subprocesses",  # pbx's SIP workers
        *(["--gil"] if gil else []),
    ]  # fmt: skip
    with (out.parent / "py-spy.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['func']} ({file})"


def top(raw: Path, n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The ``n`` heaviest functions by self share of samples (any code) and by
    inclusive share (pbx's own functions)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not raw.exists():
        return {"self": [], "inclusive": []}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if "(pbx/" in frame:  # the generic frames above ours are on every stack
                inclusive[frame] += count
    if total == 0:
        return {"self": [], "inclusive": []}
    return {
        "self": [(f, c / total) for f, c in own.most_common(n)],
        "inclusive": [(f, c / total) for f, c in inclusive.most_common(n)],
    }
