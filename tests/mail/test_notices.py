"""mail/notices.py: every notification in English and Thai, user values escaped in HTML and
one line in subjects, links only http(s), settings links where a mail may be stopped."""

from __future__ import annotations

import pytest

from server.mail import notices
from server.mail.notices import Line

EVIL = '<script>alert("x")</script>'
URL = "https://clienta.example/v1/unsubscribe?token=u_x"


def _all(locale: str, org: str = EVIL) -> dict[str, notices.Rendered]:
    lines = [Line("You", EVIL), Line("Ploy", "fine\nthanks")]
    return {
        "inbox": notices.followup_inbox(locale, org_name=org, visitor_email="a@b.co",
                                        lines=lines, console_url="https://c.example/console",
                                        settings_url=URL),
        "transcript": notices.transcript(locale, org_name=org, lines=lines,
                                         url="https://c.example/c?token=c_x", days=30),
        "waiting": notices.waiting_alert(locale, org_name=org, minutes=12, preview=EVIL,
                                         console_url="https://c.example/console",
                                         settings_url=URL),
        "own_device": notices.new_device(locale, org_name=org, member=None,
                                         device="firefox/linux", when="2025-01-01 10:00",
                                         console_url="https://c.example/console",
                                         settings_url=None),
        "other_device": notices.new_device(locale, org_name=org, member=EVIL,
                                           device="firefox/linux", when="2025-01-01 10:00",
                                           console_url="https://c.example/console",
                                           settings_url=URL),
    }


@pytest.mark.parametrize("locale", ["en", "th"])
def test_user_values_are_escaped_and_subjects_one_line(locale: str) -> None:
    for name, r in _all(locale).items():
        assert "<script>" not in r.html, name
        assert "\n" not in r.subject, name
    assert EVIL in _all(locale)["transcript"].text  # plain text stays as written


def test_thai_recipients_read_thai() -> None:
    thai = _all("th-TH", "Acme")
    assert "บทสนทนา" in thai["transcript"].subject
    assert "แจ้งเตือนความปลอดภัย" in thai["own_device"].subject
    assert 'lang="th"' in thai["waiting"].html


def test_only_stoppable_mail_has_a_settings_link() -> None:
    rendered = _all("en", "Acme")
    for name in ("inbox", "waiting", "other_device"):
        assert URL in rendered[name].text and URL in rendered[name].html, name
    for name in ("transcript", "own_device"):
        assert URL not in rendered[name].text, name


def test_a_link_must_be_http() -> None:
    with pytest.raises(ValueError):
        notices.transcript("en", org_name="A", lines=[], url="javascript:alert(1)", days=1)
