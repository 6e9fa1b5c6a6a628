"""Root conftest: the shared integration fixtures (real broker, real databases) for every suite,
and the watchdog that ends a finished run its leftover threads keep from exiting.

`pytest_plugins` is honoured only here (pytest 8+ refuses it in nested conftests).
"""

pytest_plugins = ["testkit.fixtures", "testkit.exit_watchdog"]
