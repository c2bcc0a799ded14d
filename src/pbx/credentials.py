"""Turn configured extensions into the HA1 lookup the registrar needs.

HA1 values are computed once at start-up, so a REGISTER costs one table lookup and
passwords are not kept around in clear beyond the settings object.
"""

from __future__ import annotations

from collections.abc import Iterable

from pbx.config import ExtensionSettings
from pbx.sip import digest


def build_lookup(
    extensions: Iterable[ExtensionSettings], realm: str, algorithms: Iterable[str]
) -> dict[tuple[str, str], str]:
    """(number, algorithm) -> HA1 for every algorithm an extension can answer."""
    table: dict[tuple[str, str], str] = {}
    wanted = [digest.normalize_algorithm(a) for a in algorithms]
    for ext in extensions:
        number = str(ext.number)
        if ext.password is not None:
            password = ext.password.get_secret_value()
            for algorithm in wanted:
                table[(number, algorithm)] = digest.ha1(algorithm, number, realm, password)
        elif ext.ha1 is not None:
            table[(number, "MD5")] = ext.ha1.get_secret_value().lower()
    return table
