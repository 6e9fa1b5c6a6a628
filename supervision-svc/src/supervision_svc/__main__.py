"""`python -m supervision_svc migrate | serve`."""

from pathlib import Path

from fastapi import FastAPI

from shared.cli import service_main
from shared.settings import ServiceSettings
from supervision_svc.app import create_app
from supervision_svc.settings import SupervisionSettings, get_supervision_settings


def _create_app(settings: ServiceSettings) -> FastAPI:
    # service_main hands back what get_supervision_settings built.
    if not isinstance(settings, SupervisionSettings):
        raise TypeError(f"expected SupervisionSettings, got {type(settings).__name__}")
    return create_app(settings)


if __name__ == "__main__":
    service_main(
        settings_factory=get_supervision_settings,
        app_factory=_create_app,
        migrations=Path(__file__).parent / "migrations",
    )
