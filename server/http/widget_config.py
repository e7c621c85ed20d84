"""GET /v1/widget/config?site_key=: what the widget shows before it connects: the org's
look (the embed tag's attributes still win), and whether it is inside business hours,
with the offline message when not. Public and cross-origin: nothing here is private."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from server.http.errors import ApiError

# short: an opening or closing hour reaches visitors within a minute
CACHE = "public, max-age=60"


async def widget_config(request: Request) -> JSONResponse:
    site_key = request.query_params.get("site_key", "")
    if not 0 < len(site_key) <= 128:
        raise ApiError(422, "bad_request", "site_key must be 1-128 characters")
    # the visitor hello's cached lookup: a page view costs no query within its TTL
    org = await request.app.state.services.orgs.by_site_key(site_key)
    if org is None:
        raise ApiError(404, "not_found", "no such site key")
    prefs = org.prefs
    is_open = prefs.open_at(datetime.now(UTC))
    # the org's privacy notice, shown before the first message when it requires one
    notice = await request.app.state.services.privacy_settings.notice(org.id)
    return JSONResponse(
        {"widget": prefs.look.to_json(), "open": is_open,
         "offline_message": None if is_open else prefs.offline_message,
         "notice": notice and notice.to_json()},
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": CACHE,
                 "X-Content-Type-Options": "nosniff"})


def routes() -> list[BaseRoute]:
    return [Route("/v1/widget/config", widget_config, methods=["GET"])]
