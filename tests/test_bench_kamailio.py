"""The peer's configuration as `make bench` renders it, in both usrloc modes.

No Kamailio needed: the text is checked, ``kamailio -c`` checks it in the bench.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.kamailio import peer


def _settings(text: str) -> dict[str, str]:
    return {
        "children": re.findall(r"^children=(\S+)$", text, re.M)[0],
        "db_mode": re.findall(r'^modparam\("usrloc", "db_mode", (\S+)\)$', text, re.M)[0],
    }


def test_write_back_is_the_peer_with_four_workers(tmp_path: Path) -> None:
    text = peer.config_text(5060, tmp_path / "k.sqlite", "/mods/")
    assert _settings(text) == {"children": "4", "db_mode": "2"}
    assert "@" not in re.sub(r"#.*", "", text)  # every placeholder filled


def test_write_through_runs_one_worker(tmp_path: Path) -> None:
    text = peer.config_text(5060, tmp_path / "k.sqlite", "/mods/", peer.WRITE_THROUGH)
    assert _settings(text) == {"children": "1", "db_mode": "1"}
    assert f"sqlite://{(tmp_path / 'k.sqlite').resolve()}" in text
