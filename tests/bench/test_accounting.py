"""The resume bench's check that every first question was answered: a record where the
bot's answer never came must count, so a server that drops answers fails the bench."""

from __future__ import annotations

from bench.scenarios.resume import first_question_unanswered


def test_a_question_with_no_reply_after_it_counts_as_unanswered() -> None:
    assert first_question_unanswered([(1, "visitor")])
    assert first_question_unanswered([(1, "visitor"), (2, "visitor")])  # resent, still none
    # a reply before the question (a greeting) does not answer it
    assert first_question_unanswered([(1, "bot"), (2, "visitor")])


def test_the_bots_answer_or_a_hand_off_answers_it() -> None:
    assert not first_question_unanswered([(1, "visitor"), (2, "bot")])
    assert not first_question_unanswered([(1, "visitor"), (2, "visitor"), (3, "system")])
    assert not first_question_unanswered([])  # nothing asked
