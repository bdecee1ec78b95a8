"""A real bandersnatch, in its own virtualenv (its pins do not fit ours), cached across runs.

The virtualenv lives in `.venv-mirror/` at the repository root (override with
`PYPIDRAFT_MIRROR_VENV`). It is created on first use with `python -m venv` and
`pip install bandersnatch==BANDERSNATCH_VERSION`; later runs reuse it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The newest bandersnatch that runs on Python 3.11.
BANDERSNATCH_VERSION = "6.8.0"
REPO = Path(__file__).resolve().parents[2]


def _venv_path() -> Path:
    return Path(os.environ.get("PYPIDRAFT_MIRROR_VENV") or REPO / ".venv-mirror")


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('bandersnatch'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


@pytest.fixture(scope="session")
def bandersnatch() -> Path:
    """Path of the `bandersnatch` executable."""
    venv = _venv_path()
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = (
        Path(tempfile.gettempdir()) / f"pypidraft-mirror-venv-{hashlib.sha256(bytes(venv)).hexdigest()[:12]}.lock"
    )
    with open(lock_path, "w") as lock:
        # Two test runs at once must not build the same virtualenv together.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(venv) != BANDERSNATCH_VERSION:
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            # Like Python 3.13's venv: the folder keeps itself out of git.
            (venv / ".gitignore").write_text("# created by tests/mirror/conftest.py\n*\n")
            result = subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    f"bandersnatch=={BANDERSNATCH_VERSION}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(
                    f"Could not install bandersnatch=={BANDERSNATCH_VERSION} into {venv}:\n"
                    + result.stdout[-3000:]
                    + result.stderr[-3000:]
                )
    return venv / "bin" / "bandersnatch"
