"""axe-core in the page under test: the serious and critical violations of a part of it.
axe-core comes from npm (`npm install --prefix .cache/npm axe-core@4`, as .ci/run does)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/axe-core/axe.min.js"


async def serious_violations(page: Any, context: str = "body") -> list[dict[str, Any]]:
    """Each serious or critical violation inside `context` (a CSS selector), with its
    nodes' targets: an empty list is a pass."""
    if not AXE.exists():
        reason = (f"axe-core is missing at {AXE}: `make test` installs it when npm is "
                  "there (`npm install --prefix .cache/npm axe-core@4`)")
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)  # CI must not pass by skipping
        pytest.skip(reason)
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        # evaluated through the DevTools protocol: the console's CSP (script-src 'self')
        # refuses an injected <script>, and should
        await page.evaluate(AXE.read_text("utf-8") + "\n;undefined")
    found = await page.evaluate(
        """async (context) => {
            const r = await axe.run(context, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
              .map(v => ({id: v.id, impact: v.impact, help: v.help,
                          nodes: v.nodes.map(n => n.target.join(' '))}));
        }""", context)
    return list(found)
