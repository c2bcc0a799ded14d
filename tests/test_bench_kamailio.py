"""The peer's configuration as `make bench` renders it, in both usrloc modes.

No Kamailio needed: the text is checked, ``kamailio -c`` checks it in the bench.
"""

from __future__ import annotations

import re

from bench.kamailio import peer


def _settings(text: str) -> dict[str, str]:
    return {
        "children": re.findall(r"^children=(\S+)$", text, re.M)[0],
        "db_mode": re.findall(r'^modparam\("usrloc", "db_mode", (\S+)\)$', text, re.M)[0],
    }


def test_write_back_on_sqlite_is_the_peer() -> None:
    text = peer.config_text("sqlite:///tmp/k.sqlite", 5060, "/mods/", peer.WRITE_BACK, 4)
    assert _settings(text) == {"children": "4", "db_mode": "2"}
    assert 'loadmodule "db_sqlite.so"' in text
    assert re.findall(r'"db_url", "([^"]*)"', text) == ["sqlite:///tmp/k.sqlite"] * 2
    assert "@" not in re.sub(r"#.*", "", text)  # every placeholder filled


def test_write_through_on_postgresql_loads_its_module() -> None:
    url = "postgres://postgres@127.0.0.1:5432/kamailio"
    text = peer.config_text(url, 5060, "/mods/", peer.WRITE_THROUGH, 4)
    assert _settings(text) == {"children": "4", "db_mode": "1"}
    assert 'loadmodule "db_postgres.so"' in text and "db_sqlite" not in text
    assert "@" not in re.sub(r"#.*", "", text).replace(url, "")
