"""The webhook channel: POST the exact CloudEvent bytes, signed (`domain.signing`)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from notify_svc.domain import CLOUDEVENTS_JSON, SIGNATURE_HEADER, AttemptResult, signature

USER_AGENT = "notify-svc/1.0"
MAX_ERROR_LENGTH = 500

HttpClientFactory = Callable[[], httpx.AsyncClient]


def short_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


async def post_webhook(
    client: httpx.AsyncClient, *, url: str, body: bytes, secret: str
) -> AttemptResult:
    """Any 2xx is a success; anything else (or no answer) a failed attempt."""
    headers = {
        "Content-Type": CLOUDEVENTS_JSON,
        SIGNATURE_HEADER: signature(secret, body),
        "User-Agent": USER_AGENT,
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return AttemptResult(ok=False, error=short_error(f"{type(exc).__name__}: {exc}".strip()))
    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult(ok=True, status_code=code)
    snippet = response.text[:200].strip() if response.content else ""
    error = f"HTTP {code} {response.reason_phrase}".strip() + (f": {snippet}" if snippet else "")
    return AttemptResult(ok=False, status_code=code, error=short_error(error))
