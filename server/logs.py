"""Structured JSON logs. User text never goes in: callers log ids only, and exceptions are
logged as their type, frames and non-personal attributes (a database error's SQLSTATE and
the names of its table and constraint), never as their message."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import sysconfig
import threading
import time
import traceback
from types import TracebackType
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}
_ROOTS = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
          sysconfig.get_paths()["stdlib"] + os.sep)

# An exception's message is text of unknown origin: asyncpg puts the first 40 characters
# of a parameter it could not encode in its DataError, and Postgres's DETAIL names the
# key a unique violation found ("Key (email)=(...)"). Only these attributes are kept:
# they name the schema, never a value.
_DB_FIELDS = (("sqlstate", "sqlstate"), ("schema_name", "schema"), ("table_name", "table"),
              ("column_name", "column"), ("data_type_name", "data_type"),
              ("constraint_name", "constraint"))
# Our own exceptions whose message is built only from our own names and codes.
_SAFE_MESSAGES = frozenset({"server.domain.modes.TransitionError"})
_MAX_FRAMES = 40
_TRACEBACK = "Traceback (most recent call last):"
_FRAME_LINE = re.compile(r'^  File "([^"]*)", line (\d+), in (\S+)$', re.MULTILINE)
# uvicorn's copy of the message with terminal colours: the same words, twice
_DROPPED_EXTRAS = frozenset({"color_message"})
_MAX_CHAIN = 4


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _where(filename: str) -> str:
    """A frame's file without the machine's paths: `server/...`, `asyncpg/...`, `asyncio/...`."""
    cut = filename.rfind("-packages" + os.sep)
    if cut >= 0:
        return filename[cut + len("-packages") + 1:]
    for root in _ROOTS:
        if filename.startswith(root):
            return filename[len(root):]
    return filename


def _frames(tb: TracebackType | None) -> list[str]:
    frames = traceback.extract_tb(tb)[-_MAX_FRAMES:]
    return [f"{_where(f.filename)}:{f.lineno} {f.name}" for f in frames]


def describe(exc: BaseException, *, frames: bool = True, depth: int = 0) -> dict[str, Any]:
    """What may be logged of an exception: never its message, unless the type is ours
    and known to say only our own words, nor any value it carries."""
    out: dict[str, Any] = {"type": _type_name(exc)}
    for attr, key in _DB_FIELDS:
        value = getattr(exc, attr, None)
        if isinstance(value, str) and value:
            out[key] = value
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        # the operating system's words for its own error code; filenames left out
        out["errno"] = exc.errno
        if exc.strerror:
            out["reason"] = str(exc.strerror)
    if out["type"] in _SAFE_MESSAGES:
        out["message"] = str(exc)
    if frames and exc.__traceback__ is not None:
        out["frames"] = _frames(exc.__traceback__)
    if isinstance(exc, BaseExceptionGroup) and depth < _MAX_CHAIN:
        out["exceptions"] = [describe(e, frames=frames, depth=depth + 1)
                             for e in exc.exceptions[:8]]
    if depth < _MAX_CHAIN:
        if exc.__cause__ is not None:
            out["cause"] = describe(exc.__cause__, frames=frames, depth=depth + 1)
        elif exc.__context__ is not None and not exc.__suppress_context__:
            out["context"] = describe(exc.__context__, frames=frames, depth=depth + 1)
    return out


def _summary(exc: BaseException) -> str:
    sqlstate = getattr(exc, "sqlstate", None)
    return f"{_type_name(exc)} [{sqlstate}]" if isinstance(sqlstate, str) else _type_name(exc)


def _traceback_text(text: str) -> str:
    """A traceback some library formatted into its message (Starlette hands uvicorn a failed
    start-up's that way): its frames and last exception type, without the messages."""
    head, _, tail = text.partition(_TRACEBACK)
    frames = [f"{_where(m[1])}:{m[2]} {m[3]}" for m in _FRAME_LINE.finditer(tail)]
    last = tail.rstrip().rsplit("\n", 1)[-1]
    kind = last.split(":", 1)[0].strip() if not last.startswith(" ") else ""
    return f"{head.rstrip()} [{kind}] at {' > '.join(frames)}".strip()


def _message(record: logging.LogRecord) -> str:
    msg = record.msg
    if isinstance(msg, BaseException):
        return _summary(msg)
    args = record.args
    if isinstance(args, tuple) and any(isinstance(a, BaseException) for a in args):
        args = tuple(_summary(a) if isinstance(a, BaseException) else a for a in args)
    text = str(msg) % args if args else str(msg)
    if _TRACEBACK in text:
        return _traceback_text(text)
    if record.name == "asyncio":
        # asyncio's handler appends reprs of the failed task or callback and its
        # arguments ("future: <Task ... exception=DataError('...')>"): keep its first words
        text = text.split("\n", 1)[0]
        for mark in ("(", "<"):
            text = text.split(mark, 1)[0]
        text = text.rstrip()
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception as exc:
            # logging's own report of a failed format prints the record's arguments
            return json.dumps({"ts": round(time.time(), 3), "level": record.levelname.lower(),
                               "logger": record.name, "msg": "log record not formattable",
                               "at": f"{_where(record.pathname)}:{record.lineno}",
                               "error": describe(exc, frames=False)})

    def _format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in _DROPPED_EXTRAS:
                if isinstance(value, (int, float, bool, type(None))):
                    out[key] = value
                elif isinstance(value, BaseException):
                    out[key] = describe(value, frames=False)
                else:
                    out[key] = str(value)
        if record.exc_info and record.exc_info[1] is not None:
            out["exc"] = describe(record.exc_info[1])
        return json.dumps(out, ensure_ascii=False)


def _log_uncaught(exc_type: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
    logging.getLogger("clienta.crash").critical("uncaught exception",
                                                exc_info=(exc_type, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel("WARNING")
    # an uncaught exception would otherwise print its message to stderr, the same log
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
