"""The interpreter `make` builds the venv from (``scripts/pick-python.sh``) and the
check that rebuilds a venv made from another one (``scripts/venv-check.sh``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).parents[1] / "scripts"


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_an_explicit_python_is_taken_as_given() -> None:
    done = _run("pick-python.sh", {"PYTHON": "/opt/python3.13/bin/python3"})
    assert done.returncode == 0
    assert done.stdout.strip() == "/opt/python3.13/bin/python3"


def test_the_chosen_python_can_make_the_venv() -> None:
    done = _run("pick-python.sh", {})
    assert done.returncode == 0, done.stderr
    chosen = done.stdout.strip()
    probe = "import sys, ensurepip, venv; print(sys.version_info >= (3, 11))"
    check = subprocess.run(
        [chosen, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert check.stdout.strip() == "True"


def test_the_distribution_python_comes_first_when_it_qualifies() -> None:
    system = Path("/usr/bin/python3")
    usable = system.exists() and (
        subprocess.run(
            [str(system), "-c", "import sys, ensurepip; sys.exit(sys.version_info < (3, 11))"],
            capture_output=True,
            check=False,
            timeout=60,
        ).returncode
        == 0
    )
    chosen = _run("pick-python.sh", {}).stdout.strip()
    assert (chosen == str(system)) == usable


def _fake_venv(root: Path, version_line: str) -> Path:
    """A venv whose python prints ``version_line`` whatever it is asked."""
    venv = root / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    python.chmod(0o755)
    return venv


def test_a_venv_from_another_python_is_removed(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path, "/somewhere/else 3.11.0 (another build)")
    done = _run("venv-check.sh", {"VENV": str(venv), "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert not venv.exists()
    assert "made from another Python" in done.stdout


def test_a_venv_from_the_same_python_is_kept(tmp_path: Path) -> None:
    identity = f"{sys.base_prefix} {sys.version}"
    assert "\n" not in identity and "'" not in identity
    venv = _fake_venv(tmp_path, identity)
    done = _run("venv-check.sh", {"VENV": str(venv), "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert (venv / "bin" / "python").exists()
    assert done.stdout == ""


def test_no_venv_yet_is_left_to_make(tmp_path: Path) -> None:
    done = _run("venv-check.sh", {"VENV": str(tmp_path / "none"), "PYTHON": sys.executable})
    assert done.returncode == 0
    assert not (tmp_path / "none").exists()
