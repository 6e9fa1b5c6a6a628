"""`python -m notify_svc migrate | serve`."""

from pathlib import Path

from notify_svc.app import create_app
from notify_svc.settings import get_notify_settings
from shared.cli import service_main

if __name__ == "__main__":
    service_main(
        settings_factory=get_notify_settings,
        app_factory=create_app,
        migrations=Path(__file__).parent / "migrations",
    )
