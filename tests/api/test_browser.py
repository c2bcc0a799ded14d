"""The page in a real headless Chromium against a real uvicorn on 127.0.0.1.

Chromium comes from Debian (``scripts/install-test-deps.sh``). Without it the test
skips locally but fails under CI (env ``CI`` set), so CI can never pass by silently
not running it. ``--virtual-time-budget`` lets the page's fetches finish before the
DOM is dumped; the flags keep Chromium off the network (see FIELD-NOTES.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from pbx.api.app import create_app
from pbx.api.status import StaticStatus
from pbx.phones.memory import MemoryPhoneStore
from pbx.phones.store import Sighting
from tests.api.conftest import NOW, PHONES, seed, serving

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is missing: run scripts/install-test-deps.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def dump_dom(url: str, profile: Path) -> str:
    proc = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_page_shows_seeded_phones_and_health(tmp_path: Path) -> None:
    chromium()  # fail or skip before starting anything
    store = MemoryPhoneStore()
    hostile = Sighting("1007", "192.0.2.77", None, '<img src=x onerror="alert(1)">', None, NOW)
    seed(store, [*PHONES.in_order, hostile])
    status = StaticStatus(
        sip={"status": "up", "transports": ["udp", "tcp"]},
        database={"status": "fallback", "type": "sqlite", "pending": 3},
        clock=lambda: NOW,
    )
    status.bind("1001", "192.0.2.10", NOW + timedelta(minutes=5))
    with serving(create_app(store, status)) as url:
        dom = dump_dom(url + "/", tmp_path / "profile")

    rows = re.findall(r"<tr data-id=\"\d+\">(.*?)</tr>", dom, re.S)
    assert len(rows) == 5
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    # Newest first: the hostile phone registered at NOW, then the seeded order.
    assert [c[1] for c in cells] == ["1007", "1001", "1001", "1003", "1002"]
    assert [c[2] for c in cells][:3] == ["—", "00:04:f2:8e:5a:79", "c0:74:ad:ca:6f:20"]
    assert [c[3] for c in cells] == [
        "192.0.2.77",
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.13",
        "2001:db8::12",
    ]
    assert [c[0] for c in cells] == ["stale", "live", "stale", "stale", "stale"]
    assert cells[1][7] == "2026-11-27 16:01:00"
    # The user agent is shown as text, never parsed as markup.
    assert cells[0][4] == '&lt;img src=x onerror="alert(1)"&gt;'
    assert "<img" not in dom
    assert re.search(r'id="health" class="health degraded"[^>]*>Service degraded:', dom)
    assert "database fallback" in dom
    assert "5 phones, 1 live" in dom
