"""Notification settings (the org's inbox and waiting threshold, each user's own kinds),
unsubscribe links (RFC 8058 one-click POST) and the hosted transcript page a reply mail
links to. Tokens arrive as query values, never in a path (error reports keep paths)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from server.domain.notices import MAX_TOKEN_CHARS, USER_SETTINGS, NoticeKind
from server.domain.roles import MANAGERS
from server.http.auth import authenticate
from server.http.errors import ApiError
from server.http.params import json_body

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
MAX_WAITING_ALERT_S = 7 * 24 * 3600

_STOPS = {NoticeKind.REPLIES: "replies to your conversation by email",
          NoticeKind.INBOX: "visitors' follow-up requests at this inbox address",
          NoticeKind.WAITING: "alerts about waiting conversations",
          NoticeKind.SECURITY: "security alerts about other members' sign-ins"}
_STOPS_TH = {NoticeKind.REPLIES: "อีเมลตอบกลับการสนทนาของคุณ",
             NoticeKind.INBOX: "คำขอติดต่อกลับจากผู้เยี่ยมชมที่อีเมลนี้",
             NoticeKind.WAITING: "การแจ้งเตือนการสนทนาที่รออยู่",
             NoticeKind.SECURITY: "การแจ้งเตือนความปลอดภัยเกี่ยวกับการเข้าสู่ระบบของสมาชิกคนอื่น"}

# The page's button posts without cookies: a console session cookie on a cookie-less
# form post would be refused by the CSRF guard, and an unsubscribe needs no session.
_SCRIPT = ("document.querySelector('form').addEventListener('submit',function(e){"
           "e.preventDefault();var f=e.target;fetch(f.action,{method:'POST',"
           "credentials:'omit'}).then(function(r){f.textContent=r.ok?'\u2713':'\u2717';});});")
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                 "X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff"}


def _page(title: str, body: str, *, lang: str = "en", status: int = 200,
          script: bool = False) -> HTMLResponse:
    csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    if script:
        csp += f"; script-src 'sha256-{_SCRIPT_HASH}'; connect-src 'self'"
    tail = f"<script>{_SCRIPT}</script>" if script else ""
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family:sans-serif;line-height:1.5;max-width:640px;margin:2em auto;'
        f'padding:0 1em">{body}{tail}</body></html>', status_code=status,
        headers={**_PAGE_HEADERS, "Content-Security-Policy": csp})


def _token(request: Request) -> str:
    token = request.query_params.get("token", "")
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise ApiError(404, "not_found", "this link is not valid")
    return token


# ---- settings --------------------------------------------------------------------------

async def get_org_notifications(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    return JSONResponse(
        await request.app.state.services.notifications.org_settings(principal.org_id))


async def patch_org_notifications(request: Request) -> JSONResponse:
    principal = await authenticate(request, MANAGERS)
    body = await json_body(request)
    changes: dict[str, Any] = {}
    unknown = set(body) - {"inbox_email", "inbox_enabled", "waiting_alert_s"}
    if unknown:
        raise ApiError(422, "bad_request", f"unknown settings: {', '.join(sorted(unknown))}")
    if "inbox_email" in body:
        address = body["inbox_email"]
        if address is not None and (not isinstance(address, str) or len(address) > 320
                                    or not _EMAIL.fullmatch(address)):
            raise ApiError(422, "bad_request",
                           "inbox_email must be an email address, or null for the owners'")
        changes["inbox_email"] = address
    if "inbox_enabled" in body:
        if not isinstance(body["inbox_enabled"], bool):
            raise ApiError(422, "bad_request", "inbox_enabled must be true or false")
        changes["inbox_enabled"] = body["inbox_enabled"]
    if "waiting_alert_s" in body:
        value = body["waiting_alert_s"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 1 <= value <= MAX_WAITING_ALERT_S):
            raise ApiError(422, "bad_request", "waiting_alert_s must be an integer from 1 to "
                           f"{MAX_WAITING_ALERT_S}, or null for the server's default")
        changes["waiting_alert_s"] = value
    return JSONResponse(await request.app.state.services.notifications.update_org_settings(
        principal.org_id, changes))


async def get_my_notifications(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    return JSONResponse(await request.app.state.services.notifications.user_settings(
        principal.org_id, principal.user_id))


async def patch_my_notifications(request: Request) -> JSONResponse:
    principal = await authenticate(request)
    body = await json_body(request)
    unknown = set(body) - set(USER_SETTINGS)
    if unknown:
        raise ApiError(422, "bad_request", f"unknown settings: {', '.join(sorted(unknown))}")
    if not all(isinstance(v, bool) for v in body.values()):
        raise ApiError(422, "bad_request", "each setting must be true or false")
    return JSONResponse(await request.app.state.services.notifications.update_user_settings(
        principal.org_id, principal.user_id, body))


# ---- unsubscribe ------------------------------------------------------------------------

async def unsubscribe_page(request: Request) -> HTMLResponse:
    """A page with a button: a GET never unsubscribes (mail scanners open every link)."""
    token = _token(request)
    ref = await request.app.state.services.notifications.unsubscribe(token, apply=False)
    if ref is None:
        raise ApiError(404, "not_found", "this link is not valid")
    action = html.escape(f"/v1/unsubscribe?token={token}")
    return _page("Unsubscribe", (
        f"<p>Stop {html.escape(_STOPS[ref.kind])}?<br>"
        f"หยุดรับ{html.escape(_STOPS_TH[ref.kind])}?</p>"
        f'<form method="post" action="{action}">'
        '<button type="submit">Stop these emails / หยุดรับอีเมลเหล่านี้</button></form>'),
        script=True)


async def unsubscribe(request: Request) -> HTMLResponse:
    """RFC 8058 one-click: a mail client POSTs `List-Unsubscribe=One-Click` to the URL."""
    token = _token(request)
    ref = await request.app.state.services.notifications.unsubscribe(token, apply=True)
    if ref is None:
        raise ApiError(404, "not_found", "this link is not valid")
    return _page("Unsubscribed", (
        f"<p>Done: no more {html.escape(_STOPS[ref.kind])}.<br>"
        f"เรียบร้อย: คุณจะไม่ได้รับ{html.escape(_STOPS_TH[ref.kind])}อีก</p>"))


# ---- the hosted transcript ---------------------------------------------------------------

_GONE = {"en": "This link has expired or is not valid.",
         "th": "ลิงก์นี้หมดอายุหรือไม่ถูกต้อง"}
_TITLE = {"en": "Your conversation with {org}", "th": "บทสนทนาของคุณกับ {org}"}
_REPLY_IN_CHAT = {"en": "To answer, open the chat on {org}'s website.",
                  "th": "หากต้องการตอบกลับ โปรดเปิดแชตบนเว็บไซต์ของ {org}"}


async def transcript_page(request: Request) -> HTMLResponse:
    """Read-only: the conversation's visible messages (never notes), escaped."""
    token = request.query_params.get("token", "")
    page = None
    if token and len(token) <= MAX_TOKEN_CHARS:
        page = await request.app.state.services.notifications.transcript_page(token)
    if page is None:
        return _page("Clienta", f"<p>{_GONE['en']}<br>{_GONE['th']}</p>", status=404)
    title = _TITLE[page.locale].format(org=page.org_name)
    lines = "".join(f"<p><b>{html.escape(line.who)}</b><br>"
                    f"{html.escape(line.text).replace(chr(10), '<br>')}</p>"
                    for line in page.lines)
    return _page(title, f"<h1 style=\"font-size:1.3em\">{html.escape(title)}</h1>{lines}"
                 f"<p style=\"color:#666\">"
                 f"{html.escape(_REPLY_IN_CHAT[page.locale].format(org=page.org_name))}</p>",
                 lang=page.locale)


def routes() -> list[BaseRoute]:
    return [Route("/v1/org/notifications", get_org_notifications, methods=["GET"]),
            Route("/v1/org/notifications", patch_org_notifications, methods=["PATCH"]),
            Route("/v1/users/me/notifications", get_my_notifications, methods=["GET"]),
            Route("/v1/users/me/notifications", patch_my_notifications, methods=["PATCH"]),
            Route("/v1/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/v1/unsubscribe", unsubscribe, methods=["POST"]),
            Route("/c", transcript_page, methods=["GET"])]
