"""Settings of the portal, read from the environment when built (never at import).

The portal has no database: it is a backend-for-frontend over the three services' HTTP APIs.
It subclasses ``ServiceSettings`` only so the runner treats it like the others (host, port,
``PORTAL_`` prefix); the database fields are unused.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, build_settings


class PortalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "portal"
    default_port: ClassVar[int] = 8000

    # Where the services are: PORTAL_<SVC>_URL, else 127.0.0.1 on the port the service itself
    # reads (APPROVAL_PORT, ...), so `make run` with overridden ports needs nothing more.
    approval_url: str | None = Field(default=None, description="Base URL of approval-svc.")
    supervision_url: str | None = Field(default=None, description="Base URL of supervision-svc.")
    notify_url: str | None = Field(default=None, description="Base URL of notify-svc.")
    approval_port: int = Field(default=8001, validation_alias=AliasChoices("APPROVAL_PORT"))
    supervision_port: int = Field(default=8002, validation_alias=AliasChoices("SUPERVISION_PORT"))
    notify_port: int = Field(default=8003, validation_alias=AliasChoices("NOTIFY_PORT"))
    upstream_timeout_s: float = Field(default=10.0, gt=0)

    dev_login: bool = Field(
        default=False,
        validation_alias=AliasChoices("PLATFORM_DEV_LOGIN", "dev_login"),
        description="Offer development sign-in (pick a role, get a token). Never in production.",
    )
    dev_token_ttl_s: int = Field(default=8 * 3600, gt=0)
    session_secret: SecretStr | None = Field(
        default=None, description="Signs the session cookie; unset derives one from the JWT secret."
    )
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    cookie_secure: bool = Field(default=False, description="Send the cookie over HTTPS only.")
    public_base_url: str | None = Field(
        default=None, description="Absolute URL of the portal for QR codes; unset: the request's."
    )
    dashboards_url: str | None = Field(
        default=None, description="Grafana (or other) dashboards, linked from the ops console."
    )
    default_locale: str = "zh_CN"

    @property
    def approval_base(self) -> str:
        return (self.approval_url or f"http://127.0.0.1:{self.approval_port}").rstrip("/")

    @property
    def supervision_base(self) -> str:
        return (self.supervision_url or f"http://127.0.0.1:{self.supervision_port}").rstrip("/")

    @property
    def notify_base(self) -> str:
        return (self.notify_url or f"http://127.0.0.1:{self.notify_port}").rstrip("/")

    def cookie_secret(self) -> str:
        if self.session_secret is not None and self.session_secret.get_secret_value():
            return self.session_secret.get_secret_value()
        # Derived, not the JWT secret itself: a leaked cookie key must not mint tokens.
        base = self.require_jwt_secret().encode()
        return hmac.new(base, b"portal-session-cookie", hashlib.sha256).hexdigest()


def get_portal_settings(**overrides: object) -> PortalSettings:
    return build_settings(PortalSettings, **overrides)
