"""Mail values and templates as tables: no header can be injected, every user value is
escaped in HTML, links are http(s), both languages render, Resend's errors are sorted
into retried and given up."""

from __future__ import annotations

import pytest
from resend.exceptions import ResendError

from server.mail import templates
from server.mail.base import Mail
from server.mail.resend_client import failure


@pytest.mark.parametrize("field, value", [
    ("to", "a@example.com\r\nBcc: victim@example.com"),
    ("to", "a@example.com\nX: y"),
    ("to", "a@example.com, b@example.com"),
    ("to", "not-an-address"),
    ("subject", "Hello\r\nBcc: victim@example.com"),
    ("subject", "Hello\nthere"),
    ("locale", "en\r\nX: y"),
])
def test_a_line_break_or_second_address_in_a_header_is_refused(field: str,
                                                                value: str) -> None:
    fields = {"to": "a@example.com", "subject": "Hi", "text": "t", "html": "<p>t</p>"}
    fields[field] = value
    with pytest.raises(ValueError):
        Mail(**fields)


@pytest.mark.parametrize("headers", [
    (("List-Unsubscribe", "<https://x.test/u>\r\nBcc: v@example.com"),),
    (("X-Evil\r\nBcc", "v@example.com"),),
    (("Bcc", "v@example.com"),),
    (("X: Y", "z"),),
])
def test_extra_headers_cannot_smuggle_or_override_one(headers) -> None:
    with pytest.raises(ValueError):
        Mail("a@example.com", "Hi", "t", "<p>t</p>", headers=headers)


def reply(**values: str) -> templates.Rendered:
    args = {"org_name": "Acme", "agent_name": "Ann", "message": "Hi",
            "conversation_url": "https://x.test/c", "settings_url": "https://x.test/s"}
    return templates.conversation_reply("en", **{**args, **values})


def test_user_values_are_escaped_in_html_and_one_line_in_the_subject() -> None:
    r = reply(agent_name="Ann\r\nBcc: v@example.com", org_name='<a href="x">O&Co</a>',
              message="<script>alert(1)</script>\nline two")
    assert "\n" not in r.subject and "\r" not in r.subject
    Mail("a@example.com", r.subject, r.text, r.html)  # a valid header
    assert "<script>" not in r.html and "&lt;script&gt;alert(1)&lt;/script&gt;<br>line two" \
        in r.html
    assert '<a href="x">' not in r.html and "&lt;a href=&quot;x&quot;&gt;O&amp;Co" in r.html
    assert "<script>alert(1)</script>" in r.text  # plain text stays as typed
    assert len(reply(agent_name="x" * 500).subject) < 200


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//evil.test",
                                 "https://x.test/a b", 'https://x.test/"><script>'])
def test_links_must_be_plain_http_urls(url: str) -> None:
    with pytest.raises(ValueError):
        reply(conversation_url=url)
    with pytest.raises(ValueError):
        templates.unsubscribe_headers(url)


@pytest.mark.parametrize("wanted, got", [("th", "th"), ("th-TH", "th"), ("TH_th", "th"),
                                         ("en-GB", "en"), ("fr", "en"), (None, "en"),
                                         ("", "en")])
def test_the_language_is_the_nearest_we_write(wanted: str | None, got: str) -> None:
    assert templates.locale_of(wanted) == got


@pytest.mark.parametrize("locale, words", [("en", "already has an account"),
                                           ("th", "อีเมลนี้มีบัญชีอยู่แล้ว")])
def test_the_existing_account_notice_in_each_language(locale: str, words: str) -> None:
    r = templates.existing_account(locale)
    assert words in r.text and words in r.html
    assert f'<html lang="{locale}">' in r.html
    Mail("a@example.com", r.subject, r.text, r.html, locale)


@pytest.mark.parametrize("status, name, code, permanent", [
    (429, "rate_limit_exceeded", "429:rate_limit_exceeded", False),
    (500, "application_error", "500:application_error", False),
    (503, "application_error", "503:application_error", False),
    (500, "HttpClientError", "network", False),
    (403, "invalid_api_key", "403:invalid_api_key", False),  # a key being fixed
    (409, "concurrent_idempotent_requests", "409:concurrent_idempotent_requests", False),
    (409, "invalid_idempotent_request", "409:invalid_idempotent_request", True),
    (422, "validation_error", "422:validation_error", True),
    (400, "validation_error", "400:validation_error", True),
    (422, "Weird Name!", "422:other", True),
])
def test_resend_errors_are_retried_or_given_up(status: int, name: str, code: str,
                                               permanent: bool) -> None:
    exc = ResendError(status, name, "Invalid `to` field: person@example.com", "",
                      {"Retry-After": "7"})
    err = failure(exc)
    assert (err.code, err.permanent) == (code, permanent)
    assert "person@example.com" not in str(err)
    if status == 429:
        assert err.retry_after_s == 7.0
