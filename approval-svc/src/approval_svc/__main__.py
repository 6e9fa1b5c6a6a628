"""`python -m approval_svc migrate | serve`."""

from pathlib import Path

from approval_svc.app import create_app
from approval_svc.settings import get_approval_settings
from shared.cli import service_main

if __name__ == "__main__":
    service_main(
        settings_factory=get_approval_settings,
        app_factory=create_app,
        migrations=Path(__file__).parent / "migrations",
    )
