"""`/ui`: serve the web page's static files; `/ui` itself is `index.html`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, RedirectResponse

from shared.validation import has_control_characters

STATIC = (Path(__file__).parent / "static").resolve()

# The page loads nothing but its own files and talks only to this origin.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
def page_root() -> RedirectResponse:
    # Relative, so the page's relative links work behind a path prefix too.
    return RedirectResponse("ui/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/ui/{path:path}")
def page_file(path: str) -> FileResponse:
    """A file of the page; an empty path is `index.html`."""
    if has_control_characters(path):  # NUL would make the OS call fail
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such page file")
    target = (STATIC / (path or "index.html")).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no page file '{path}'")
    return FileResponse(target, media_type=MEDIA_TYPES.get(target.suffix), headers=HEADERS)
