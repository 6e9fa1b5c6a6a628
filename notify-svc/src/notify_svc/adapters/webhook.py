"""The webhook channel: POST the exact CloudEvent bytes, signed (`domain.signing`), to a
target that cannot be turned inward.

Right before each attempt the target's host is resolved and every address it resolves to is
checked (`domain.addresses`); the request then goes to the checked address itself (the URL's
host stays in the Host header and the TLS server name), so a name that resolves differently
a moment later (DNS rebinding) cannot redirect it. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from notify_svc.domain import (
    CLOUDEVENTS_JSON,
    SIGNATURE_HEADER,
    AttemptResult,
    address_problem,
    parse_ip,
    resolved_problem,
    signature,
)
from notify_svc.domain.addresses import IPAddress

USER_AGENT = "notify-svc/1.0"
MAX_ERROR_LENGTH = 500
RESOLVE_TIMEOUT_S = 5.0

HttpClientFactory = Callable[[], httpx.AsyncClient]
Resolver = Callable[[str], Awaitable[Sequence[IPAddress]]]


def short_error(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


async def resolve_host(host: str) -> list[IPAddress]:
    """Every address `host` resolves to now (empty when it does not resolve in time)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_S
        )
    except (OSError, TimeoutError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True, slots=True)
class Pinned:
    """Where a request really goes: the URL with the checked address as its host."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refused:
    error: str
    permanent: bool


class TargetGuard:
    """Resolves and checks a webhook URL's host; pins the request to a checked address."""

    def __init__(self, *, allow_private: bool, resolve: Resolver = resolve_host) -> None:
        self._allow_private = allow_private
        self._resolve = resolve

    async def pin(self, url: str) -> Pinned | Refused:
        parsed = httpx.URL(url)
        host = parsed.host
        literal = parse_ip(host)
        if literal is not None:
            if problem := address_problem(literal, allow_private=self._allow_private):
                return Refused(f"refused: {problem}", permanent=True)
            return Pinned(parsed, {}, {})
        addresses = await self._resolve(host)
        if not addresses:
            return Refused(f"{host} does not resolve", permanent=False)
        if problem := resolved_problem(host, addresses, allow_private=self._allow_private):
            return Refused(f"refused: {problem}", permanent=True)
        address = addresses[0]
        extensions: dict[str, Any] = {}
        if parsed.scheme == "https":
            extensions["sni_hostname"] = host  # TLS still verifies the certificate of `host`
        return Pinned(
            parsed.copy_with(host=str(address)),
            {"Host": parsed.netloc.decode("ascii")},
            extensions,
        )


async def post_webhook(
    client: httpx.AsyncClient,
    *,
    url: str,
    body: bytes,
    secret: str,
    guard: TargetGuard | None = None,
) -> AttemptResult:
    """Any 2xx is a success; anything else (a redirect included) or no answer a failed
    attempt; a target that resolves inward is refused without a request."""
    headers = {
        "Content-Type": CLOUDEVENTS_JSON,
        SIGNATURE_HEADER: signature(secret, body),
        "User-Agent": USER_AGENT,
    }
    target: httpx.URL | str = url
    extensions: dict[str, Any] = {}
    try:
        if guard is not None:
            pinned = await guard.pin(url)
            if isinstance(pinned, Refused):
                return AttemptResult(
                    ok=False, error=short_error(pinned.error), permanent=pinned.permanent
                )
            target = pinned.url
            headers.update(pinned.headers)
            extensions = pinned.extensions
        response = await client.post(
            target, content=body, headers=headers, extensions=extensions, follow_redirects=False
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return AttemptResult(ok=False, error=short_error(f"{type(exc).__name__}: {exc}".strip()))
    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult(ok=True, status_code=code)
    snippet = response.text[:200].strip() if response.content else ""
    error = f"HTTP {code} {response.reason_phrase}".strip() + (f": {snippet}" if snippet else "")
    if response.is_redirect:
        error += " (redirects are not followed)"
    return AttemptResult(ok=False, status_code=code, error=short_error(error))
