"""`python -m approval_svc migrate | serve`."""

from pathlib import Path

from approval_svc.app import create_app
from approval_svc.settings import get_approval_settings
from shared.cli import service_main

if __name__ == "__main__":
    service_main(
        settings_factory=get_approval_settings,
        # create_app takes the ApprovalSettings this factory builds, a ServiceSettings subclass.
        app_factory=create_app,  # type: ignore[arg-type]
        migrations=Path(__file__).parent / "migrations",
    )
