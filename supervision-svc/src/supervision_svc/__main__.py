"""`python -m supervision_svc migrate | serve`."""

from pathlib import Path

from shared.cli import service_main
from shared.settings import get_supervision_settings
from supervision_svc.app import create_app

if __name__ == "__main__":
    service_main(
        settings_factory=get_supervision_settings,
        app_factory=create_app,  # type: ignore[arg-type]
        migrations=Path(__file__).parent / "migrations",
    )
