"""Writes authenticated by the `/login` cookie must come from an allowed page.

A browser sends the cookie (`SameSite=None`, as DECODE sets it) on requests from any
site, so a page elsewhere could make a logged-in user's browser post, rename or delete
on their behalf. An unsafe request (POST, PUT, PATCH, DELETE) that the cookie
authenticates is therefore accepted only from an allowed origin: one of FRONTEND_URL's,
or this API's own (the web page at /ui), as its `Origin` header says, else its
`Referer`. A request that names neither is refused. Requests with an `Authorization`
header are not affected: another site's page cannot send one without CORS allowing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, normalised (lower case, no default port)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


def check_cookie_write(request: Request, allowed: Iterable[str]) -> None:
    """403 for an unsafe request whose page is not of an allowed origin."""
    if request.method.upper() in SAFE_METHODS:
        return
    claimed = request.headers.get("origin") or request.headers.get("referer") or ""
    origin = origin_of(claimed)
    permitted = {origin_of(str(request.base_url))} | {origin_of(a) for a in allowed}
    if origin is None or origin not in permitted - {None}:
        where = f"from {claimed[:200]!r}" if claimed else "without an Origin or Referer header"
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a {request.method} authenticated by the login cookie must come from this site "
            f"or FRONTEND_URL; this one came {where} (or send the token as an Authorization "
            "header)",
        )
