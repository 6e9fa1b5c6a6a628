"""`python -m notify_svc migrate | serve`."""

from pathlib import Path

from notify_svc.app import create_app
from notify_svc.settings import get_notify_settings
from shared.cli import service_main

if __name__ == "__main__":
    service_main(
        settings_factory=get_notify_settings,
        # service_main takes any service's factory; this one needs the notify settings it is
        # given by settings_factory above (a Callable parameter cannot be narrowed safely).
        app_factory=create_app,  # type: ignore[arg-type]
        migrations=Path(__file__).parent / "migrations",
    )
