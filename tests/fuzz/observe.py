"""What the fuzz suite watches on a real server process: its resident memory and the
error records it logs."""

from __future__ import annotations

import json

import psutil

from tests.support.processes import ServerProcess

MAX_RSS_GROWTH = 50 * 2**20


def rss(server: ServerProcess) -> int:
    """The server's resident memory, its children's included (uvicorn workers)."""
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def log_offset(server: ServerProcess) -> int:
    return server.log_path.stat().st_size


def log_errors(server: ServerProcess, offset: int) -> list[str]:
    """Error records and tracebacks the server logged after `offset`."""
    with open(server.log_path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    bad = []
    for line in lines:
        try:
            level = json.loads(line).get("level")
        except (ValueError, AttributeError):
            level = None
        if level in ("error", "critical") or any(
                word in line for word in ("Traceback", "session failed", "frame failed",
                                          "unhandled error")):
            bad.append(line[:1500])
    return bad[:6]  # the first few tell the story
