"""The benches' accounting: resume's check that every first question was answered (a
record where the bot's answer never came must count, so a server that drops answers fails
the bench), and how many of stream's answers really streamed at once."""

from __future__ import annotations

from bench.scenarios.resume import first_question_unanswered
from bench.scenarios.stream import peak_concurrent


def test_a_question_with_no_reply_after_it_counts_as_unanswered() -> None:
    assert first_question_unanswered([(1, "visitor")])
    assert first_question_unanswered([(1, "visitor"), (2, "visitor")])  # resent, still none
    # a reply before the question (a greeting) does not answer it
    assert first_question_unanswered([(1, "bot"), (2, "visitor")])


def test_the_bots_answer_or_a_hand_off_answers_it() -> None:
    assert not first_question_unanswered([(1, "visitor"), (2, "bot")])
    assert not first_question_unanswered([(1, "visitor"), (2, "visitor"), (3, "system")])
    assert not first_question_unanswered([])  # nothing asked


def stream(first: float, last: float) -> dict[str, object]:
    return {"chunks": [[first, 0.0, 0, "a"], [last, 0.0, 1, "b"]]}


def test_peak_concurrency_counts_overlapping_streams_only() -> None:
    # 0-2 and 1-3 overlap; 5-6 starts after both ended; a stream with no tokens never counts
    streams = [stream(0, 2), stream(1, 3), stream(5, 6), {"chunks": []}]
    assert peak_concurrent(streams) == 2
    assert peak_concurrent([stream(0, 10), stream(1, 2), stream(3, 4), stream(1.5, 3.5)]) == 3
    assert peak_concurrent([]) == 0
