"""Log lines never carry user text: real database errors whose messages and details hold a
marker are logged with their SQLSTATE and schema names only."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid

import asyncpg
import pytest

from server.logs import JsonFormatter
from server.storage.db import Database


def _line(exc: BaseException, msg: str = "failed", name: str = "clienta.test",
          args: tuple = (), **extra: object) -> dict:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args,
                               (type(exc), exc, exc.__traceback__))
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(JsonFormatter().format(record))


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.asyncio(loop_scope="session")
async def test_a_unique_violation_is_logged_by_sqlstate_and_constraint_not_its_key(
        db: Database) -> None:
    marker = uuid.uuid4().hex
    async with db.pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE log_probe (email text"
                           " CONSTRAINT log_probe_email_key UNIQUE)")
        await conn.execute("INSERT INTO log_probe VALUES ($1)", f"{marker}@example.test")
        with pytest.raises(asyncpg.UniqueViolationError) as caught:
            await conn.execute("INSERT INTO log_probe VALUES ($1)", f"{marker}@example.test")
        await conn.execute("DROP TABLE log_probe")
    assert marker in str(caught.value)  # what a plain traceback would have printed
    line = _line(caught.value)
    text = json.dumps(line)
    assert marker not in text
    assert line["exc"]["type"] == "asyncpg.exceptions.UniqueViolationError"
    assert line["exc"]["sqlstate"] == "23505"
    assert line["exc"]["table"] == "log_probe"
    assert line["exc"]["constraint"] == "log_probe_email_key"
    assert any(frame.startswith("asyncpg/") for frame in line["exc"]["frames"])


@pytest.mark.asyncio(loop_scope="session")
async def test_a_parameter_asyncpg_could_not_encode_stays_out_of_the_line(db: Database) -> None:
    marker = uuid.uuid4().hex
    async with db.pool.acquire() as conn:
        with pytest.raises(asyncpg.DataError) as caught:
            await conn.fetchval("SELECT $1::text", marker + "\ud800")
        with pytest.raises(asyncpg.InvalidTextRepresentationError) as syntax:
            await conn.fetchval("SELECT $1::text::uuid", marker + "-not-a-uuid")
    assert marker in str(caught.value) and marker in str(syntax.value)
    for exc in (caught.value, syntax.value):
        line = _line(exc, "lookup of %s failed", args=(exc,), error=exc)
        assert marker not in json.dumps(line)
    line = _line(syntax.value)
    assert line["exc"]["sqlstate"] == "22P02"
    # the client-side DataError keeps its cause's type (the encoding error), not its text
    assert _line(caught.value)["exc"]["cause"]["type"] == "UnicodeEncodeError"


def test_messages_of_unknown_exceptions_and_their_chains_are_left_out() -> None:
    marker = uuid.uuid4().hex

    def fail() -> None:
        try:
            {}[marker]
        except KeyError as exc:
            raise RuntimeError(f"wrapped {marker}") from exc

    try:
        fail()
    except RuntimeError as exc:
        line = _line(exc)
    assert marker not in json.dumps(line)
    assert line["exc"]["type"] == "RuntimeError"
    assert line["exc"]["cause"]["type"] == "KeyError"
    assert line["exc"]["frames"][-1].endswith(" fail")
    assert line["exc"]["frames"][-1].startswith("tests/test_logs.py:")
    group = _raised(ExceptionGroup("group", [ValueError(marker), OSError(111, "refused",
                                                                         marker)]))
    line = _line(group)
    assert marker not in json.dumps(line)
    kinds = [e["type"] for e in line["exc"]["exceptions"]]
    assert kinds == ["ValueError", "ConnectionRefusedError"]
    assert line["exc"]["exceptions"][1]["errno"] == 111


def test_asyncio_reports_keep_their_first_words_not_the_task_repr() -> None:
    marker = uuid.uuid4().hex
    exc = _raised(ValueError(marker))
    loop = asyncio.new_event_loop()
    handler = _Collect()
    formatted = handler.lines
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    logger.propagate = False  # a report made on purpose: not one for the unhandled check
    try:
        loop.call_exception_handler({"message": "Task exception was never retrieved",
                                     "exception": exc, "future": f"<Task {marker}>"})
    finally:
        logger.propagate = True
        logger.removeHandler(handler)
        loop.close()
    assert formatted, "asyncio logged nothing"
    assert marker not in formatted[0]
    assert json.loads(formatted[0])["msg"] == "Task exception was never retrieved"


def test_a_traceback_a_library_put_in_its_message_keeps_frames_and_type_only() -> None:
    marker = uuid.uuid4().hex

    def start() -> None:
        raise TypeError(f"start-up failed on {marker}")

    try:
        start()
    except TypeError:
        text = traceback.format_exc()
    record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, text, (), None)
    record.color_message = text
    line = json.loads(JsonFormatter().format(record))
    assert marker not in json.dumps(line)
    assert line["msg"].startswith("[TypeError] at tests/test_logs.py:")
    assert line["msg"].endswith(" start")


def test_a_record_that_cannot_be_formatted_does_not_print_its_arguments(capsys) -> None:
    marker = uuid.uuid4().hex
    logger = logging.getLogger("clienta.test.unformattable")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("two values %s %s", marker)  # a caller's mistake: too few arguments
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    err = capsys.readouterr().err
    assert marker not in err
    assert json.loads(err)["msg"] == "log record not formattable"
