"""Where the browser tests' screenshots go: docs/console/ when CLIENTA_SCREENSHOTS=1 (to
refresh the docs' pictures), else a temporary folder, so a test run leaves the tree as it
found it while every screenshot is still taken."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs/console"
SHOTS = DOCS if os.environ.get("CLIENTA_SCREENSHOTS") == "1" else Path(
    tempfile.mkdtemp(prefix="clienta-shots-"))
