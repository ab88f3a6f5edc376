"""Small HTML pages for people rather than programs: the answers to links that fail."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from litestar import MediaType, Request, Response

from telecon.templating import language_from_accept, render, texts


def notice_page(
    language: str,
    title: str,
    paragraphs: Sequence[str],
    *,
    links: Sequence[tuple[str, str]] = (),
    status_code: int = 200,
) -> Response[str]:
    """A heading and a few sentences (keys of ``templates/i18n``) in ``language``; no script at all."""
    t = texts(language)
    nonce = secrets.token_urlsafe(16)
    page = render(
        "pages/notice.html.j2",
        lang=language,
        direction=t["direction"],
        nonce=nonce,
        title=t[title],
        paragraphs=[t[key] for key in paragraphs],
        links=[(href, t[key]) for href, key in links],
    )
    headers = {
        "Content-Security-Policy": f"default-src 'none'; style-src 'nonce-{nonce}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
    }
    return Response(page, status_code=status_code, media_type=MediaType.HTML, headers=headers)


def browser_language(request: Request[Any, Any, Any]) -> str:
    return language_from_accept(request.headers.get("accept-language"))
