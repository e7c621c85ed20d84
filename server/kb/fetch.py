"""One web page for the knowledge base, fetched without reaching into private networks: every
address a name resolves to is vetted, the connection goes to the vetted address (no second
lookup to rebind), each redirect is vetted again, and size and time are capped."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from server.kb.model import KbError, TooLarge, UnsupportedType
from server.settings import Settings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses a name resolves to; tests hand in their own DNS
Resolver = Callable[[str, int], Awaitable[list[str]]]

PAGE_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/x-markdown",
    "application/pdf",
})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_USER_AGENT = "Clienta knowledge-base fetcher (+https://github.com/clienta)"


class FetchRefused(KbError):
    """The URL may not be fetched: its scheme, its addresses, or its redirects."""

    status = 422
    code = "fetch_refused"


class FetchFailed(KbError):
    """The page could not be had: no answer, an error status, or too slow."""

    status = 422
    code = "fetch_failed"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int
    timeout_s: float = 10.0
    max_redirects: int = 3
    allow_loopback: bool = False  # 127.0.0.1 only, for tests' own servers

    @classmethod
    def of(cls, settings: Settings) -> FetchPolicy:
        """The upload size limit, and the CLIENTA_KB_FETCH_* settings."""
        return cls(settings.kb_max_upload_bytes, settings.kb_fetch_timeout_s,
                   settings.kb_fetch_max_redirects, settings.kb_fetch_allow_loopback)


@dataclass(frozen=True, slots=True)
class Page:
    url: str  # where the page was found, after redirects
    data: bytes
    content_type: str


def refusal(ip: IP, *, allow_loopback: bool = False) -> str | None:
    """Why an address may not be fetched from, or None. Addresses embedding an IPv4 one
    (mapped, NAT64, 6to4) are judged by it; anything not globally routable is refused.
    `allow_loopback` admits 127.0.0.1 itself, in no other spelling."""
    if allow_loopback and ip == _LOOPBACK:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            return "a Teredo tunnel address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _target(url: httpx.URL) -> tuple[str, int]:
    if url.scheme not in ("http", "https"):
        raise FetchRefused("only http and https pages can be fetched")
    if url.userinfo:
        raise FetchRefused("a URL with a user name or password cannot be fetched")
    host = url.raw_host.decode("ascii")
    if not host:
        raise FetchRefused("the URL has no host")
    return host, url.port or (443 if url.scheme == "https" else 80)


async def _vetted(host: str, port: int, policy: FetchPolicy, resolve: Resolver) -> IP:
    """The address to connect to, when every address of the name is allowed."""
    try:
        literal: IP | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found: list[IP] = [literal]
    else:
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise FetchFailed(f"the name {host} could not be resolved") from exc
        if not found:
            raise FetchFailed(f"the name {host} could not be resolved")
    for ip in found:
        # one bad address refuses the name: which one a connection would use is not ours
        why = refusal(ip, allow_loopback=policy.allow_loopback)
        if why is not None:
            raise FetchRefused(f"{host} resolves to {why}; only public addresses are fetched")
    return found[0]


def _decoded(raw: bytes, encoding: str, cap: int) -> bytes:
    """A body the server compressed although asked not to, inflated to at most the cap."""
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedType(f"the page is sent with {encoding} encoding, which is not read")
    inflater = zlib.decompressobj(31 if "gzip" in encoding else 15)
    try:
        data = inflater.decompress(raw, cap + 1)
    except zlib.error as exc:
        raise FetchFailed("the page's compressed body is broken") from exc
    if len(data) > cap or inflater.unconsumed_tail:
        raise TooLarge(f"the page is larger than the limit of {cap} bytes")
    return data


async def _read(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"the page is larger than the limit of {cap} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"the page is larger than the limit of {cap} bytes")
        parts.append(chunk)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    return _decoded(b"".join(parts), encoding, cap)


def _request(client: httpx.AsyncClient, url: httpx.URL, host: str, ip: IP) -> httpx.Request:
    """A request to the vetted address that names the host: the Host header, and TLS's SNI
    and certificate check (httpcore's sni_hostname)."""
    direct = url.copy_with(host=str(ip))
    headers = {"host": url.netloc.decode("ascii"), "user-agent": _USER_AGENT,
               "accept": ", ".join(sorted(PAGE_TYPES)), "accept-encoding": "identity"}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    return client.build_request("GET", direct, headers=headers, extensions=extensions)


async def fetch_page(url: str, policy: FetchPolicy, resolve: Resolver = system_resolver) -> Page:
    """GET one page, following at most `max_redirects` redirects, within `timeout_s` in
    all; KbError subclasses for every refusal (they carry no page content)."""
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchRefused("the URL cannot be read") from exc
    # no proxies from the environment: the vetted address must be the one connected to
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                 timeout=policy.timeout_s) as client:
        try:
            async with asyncio.timeout(policy.timeout_s):
                return await _follow(client, current, policy, resolve)
        except TimeoutError as exc:
            raise FetchFailed(f"the page took longer than {policy.timeout_s:g} s") from exc


async def _follow(client: httpx.AsyncClient, current: httpx.URL, policy: FetchPolicy,
                  resolve: Resolver) -> Page:
    for _hop in range(policy.max_redirects + 1):
        host, port = _target(current)
        ip = await _vetted(host, port, policy, resolve)
        try:
            response = await client.send(_request(client, current, host, ip), stream=True)
        except httpx.TimeoutException as exc:
            raise FetchFailed(f"the page took longer than {policy.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"{host} could not be reached") from exc
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                try:
                    current = current.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise FetchRefused("the page redirects to a URL that cannot be read") \
                        from exc
                continue
            if response.status_code != 200:
                raise FetchFailed(f"{host} answered HTTP {response.status_code}")
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in PAGE_TYPES:
                raise UnsupportedType(f"the page is of type {ctype or 'unknown'}: HTML, text, "
                                      "Markdown or PDF pages can be fetched")
            try:
                data = await _read(response, policy.max_bytes)
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"the page took longer than {policy.timeout_s:g} s") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed(f"{host} broke off while sending the page") from exc
            return Page(str(current), data, ctype)
        finally:
            await response.aclose()
    raise FetchRefused(f"the page redirects more than {policy.max_redirects} times")
