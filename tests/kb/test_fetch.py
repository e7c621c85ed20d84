"""The knowledge base's page fetcher against a real HTTP server on 127.0.0.1 (reachable only
because these policies allow loopback, as CLIENTA_KB_FETCH_ALLOW_LOOPBACK does for tests):
private, loopback, link-local, multicast and reserved addresses refused in every spelling,
redirects re-vetted and counted, size, time and type capped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from server.kb.fetch import FetchFailed, FetchPolicy, FetchRefused, fetch_page
from server.kb.model import TooLarge, UnsupportedType
from tests.kb.pages import PageServer

CAP = 256 * 1024


def policy(**kw: object) -> FetchPolicy:
    base: dict[str, object] = {"max_bytes": CAP, "timeout_s": 5.0, "max_redirects": 3,
                               "allow_loopback": True}
    base.update(kw)
    return FetchPolicy(**base)  # type: ignore[arg-type]


@pytest_asyncio.fixture(loop_scope="session")
async def pages() -> AsyncIterator[PageServer]:
    server = await PageServer().start()
    yield server
    await server.stop()


async def test_fetches_a_page(pages: PageServer) -> None:
    page = await fetch_page(f"{pages.base}/page", policy())
    assert page.content_type == "text/html" and b"two working days" in page.data
    assert page.url == f"{pages.base}/page"


@pytest.mark.parametrize("host", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1",            # private IPv4
    "169.254.169.254",                                  # link-local: cloud metadata
    "127.0.0.2", "0.0.0.0", "100.64.0.1", "198.18.0.1",  # loopback, unspecified, shared, bench
    "224.0.0.1", "255.255.255.255",                     # multicast, broadcast
    "[::1]", "[::]", "[fe80::1]", "[fc00::1]", "[ff02::1]",  # IPv6 loopback ... multicast
    "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[64:ff9b::a00:1]", "[2002:a00:1::1]",              # NAT64 and 6to4 of 10.0.0.1
    "2130706433", "0x7f.1", "017700000001",             # 127.0.0.1 spelled as numbers
])
async def test_refuses_addresses_outside_the_internet(host: str) -> None:
    with pytest.raises(FetchRefused):
        await fetch_page(f"http://{host}/", policy(allow_loopback=False))


@pytest.mark.parametrize("host", [
    "127.0.0.2", "127.1.2.3", "[::1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]",
    "[2002:7f00:1::1]", "10.0.0.1", "169.254.169.254",
])
async def test_allowing_loopback_allows_127_0_0_1_alone(host: str) -> None:
    with pytest.raises(FetchRefused):
        await fetch_page(f"http://{host}/", policy(allow_loopback=True))


async def test_loopback_is_refused_unless_allowed(pages: PageServer) -> None:
    with pytest.raises(FetchRefused):
        await fetch_page(f"{pages.base}/page", policy(allow_loopback=False))
    with pytest.raises(FetchRefused):
        await fetch_page(f"http://localhost:{pages.port}/page", policy(allow_loopback=False))


async def test_a_name_with_any_private_address_is_refused() -> None:
    async def dns(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.1"]

    with pytest.raises(FetchRefused, match="private"):
        await fetch_page("http://mixed.example/", policy(), dns)


async def test_connects_to_the_vetted_address_naming_the_host(pages: PageServer) -> None:
    """The name is looked up once per hop, by us: a resolver that would rebind to a private
    address on a second lookup is never asked again, and the server hears the name."""
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if len(asked) == 1 else ["10.0.0.1"]

    page = await fetch_page(f"http://docs.example:{pages.port}/page", policy(), rebinding)
    assert b"Delivery" in page.data and asked == ["docs.example"]
    assert pages.hosts[-1] == f"docs.example:{pages.port}"


@pytest.mark.parametrize("target", [
    "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://127.0.0.2/", "file:///etc/passwd", "ftp://example.com/x",
    "http://user:secret@example.com/",
])
async def test_redirects_are_vetted_again(pages: PageServer, target: str) -> None:
    with pytest.raises(FetchRefused):
        await fetch_page(f"{pages.base}/to?{target}", policy())


async def test_at_most_the_allowed_redirects(pages: PageServer) -> None:
    page = await fetch_page(f"{pages.base}/redirect/3", policy(max_redirects=3))
    assert page.url.endswith("/page")
    with pytest.raises(FetchRefused, match="more than 3"):
        await fetch_page(f"{pages.base}/redirect/4", policy(max_redirects=3))


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed", "/bomb"])
async def test_too_large(pages: PageServer, path: str) -> None:
    with pytest.raises(TooLarge):
        await fetch_page(f"{pages.base}{path}", policy())


async def test_too_slow(pages: PageServer) -> None:
    with pytest.raises(FetchFailed, match="longer than"):
        await fetch_page(f"{pages.base}/slow", policy(timeout_s=0.5))


async def test_only_page_types(pages: PageServer) -> None:
    with pytest.raises(UnsupportedType):
        await fetch_page(f"{pages.base}/image", policy())
    with pytest.raises(FetchFailed, match="404"):
        await fetch_page(f"{pages.base}/missing", policy())


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x/",
                                 "http://user:pw@example.com/", "http:///nohost", "not a url"])
async def test_refuses_other_urls(url: str) -> None:
    with pytest.raises((FetchRefused, FetchFailed)):
        await fetch_page(url, policy())
