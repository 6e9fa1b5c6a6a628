"""Root conftest: the shared integration fixtures (real broker, real databases) for every suite.

`pytest_plugins` is honoured only here (pytest 8+ refuses it in nested conftests).
"""

pytest_plugins = ["testkit.fixtures"]
