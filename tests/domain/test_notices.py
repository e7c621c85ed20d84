"""domain/notices.py as tables: signed unsubscribe and transcript tokens (refused when
altered, forged with another secret or expired), browser families and networks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from server.domain.notices import NoticeKind, NoticeSigner, agent_family, network_of

SIGNER = NoticeSigner(b"s" * 32)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_an_unsubscribe_token_names_its_kind_org_and_subject_and_nothing_else(kind) -> None:
    org, subject = uuid4(), uuid4()
    token = SIGNER.unsubscribe_token(kind, org, subject)
    ref = SIGNER.read_unsubscribe(token)
    assert ref is not None and (ref.kind, ref.org_id, ref.subject_id) == (kind, org, subject)
    assert str(org) not in token and org.hex not in token
    assert NoticeSigner(b"t" * 32).read_unsubscribe(token) is None
    for i in range(2, len(token)):
        altered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        assert SIGNER.read_unsubscribe(altered) is None
    assert SIGNER.read_transcript(token, NOW) is None  # not a transcript link


def test_a_transcript_token_opens_its_conversation_until_it_expires() -> None:
    org, conv = uuid4(), uuid4()
    token = SIGNER.transcript_token(org, conv, NOW + timedelta(days=30))
    ref = SIGNER.read_transcript(token, NOW)
    assert ref is not None and (ref.org_id, ref.conversation_id) == (org, conv)
    assert SIGNER.read_transcript(token, NOW + timedelta(days=30)) is None
    assert SIGNER.read_transcript(token[:-2] + "xx", NOW) is None
    assert SIGNER.read_transcript("c_" + "A" * 200, NOW) is None
    assert SIGNER.read_unsubscribe(token) is None


@pytest.mark.parametrize(("ua", "family"), [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "firefox/linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
     "chrome/windows"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0",
     "edge/windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile Safari/604.1",
     "safari/ios"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
     "chrome/android"),
    (None, "other/other"), ("python-httpx/0.27", "other/other"),
])
def test_browser_families_ignore_versions(ua, family) -> None:
    assert agent_family(ua) == family


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.7", "203.0.113.0/24"), ("203.0.113.250", "203.0.113.0/24"),
    ("2001:db8:1:2::5", "2001:db8:1::/48"), ("", "unknown"), ("not-an-ip", "unknown"),
])
def test_networks_are_cut_to_a_prefix(address, network) -> None:
    assert network_of(address) == network


def test_a_fingerprint_is_per_user_family_and_network() -> None:
    user = uuid4()
    ff = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    one = SIGNER.device_fingerprint(user, ff, "203.0.113.7")
    assert one == SIGNER.device_fingerprint(user, ff.replace("128", "129"), "203.0.113.9")
    assert one != SIGNER.device_fingerprint(user, ff, "198.51.100.7")
    assert one != SIGNER.device_fingerprint(uuid4(), ff, "203.0.113.7")
    assert len(one) == 32 and b"203.0.113" not in one
