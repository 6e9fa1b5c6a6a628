"""`python -m services`: the local runner (see services.cli)."""

from services.cli import main

raise SystemExit(main())
