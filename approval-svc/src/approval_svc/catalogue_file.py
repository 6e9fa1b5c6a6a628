"""Reading the catalogue data file (the domain validates what is read here).

``APPROVAL_CATALOGUE_PATH`` names a file; unset, the catalogue bundled with the service is used.
The service loads it once at start-up: routing and ``GET /api/v1/departments`` read that one
object.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from approval_svc.domain.catalogue import Catalogue, parse_catalogue
from approval_svc.domain.errors import CatalogueError

BUNDLED = "bundled catalogue.yaml"


def bundled_catalogue_text() -> str:
    return resources.files("approval_svc.data").joinpath("catalogue.yaml").read_text("utf-8")


def parse_catalogue_text(text: str, *, source: str) -> Catalogue:
    """YAML text to a validated catalogue; every problem is a ``CatalogueError``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"catalogue {source} is not valid YAML: {exc}") from exc
    return parse_catalogue(raw, source=source)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and validate a catalogue file; ``None`` loads the one bundled with the service."""
    if path is None:
        return parse_catalogue_text(bundled_catalogue_text(), source=BUNDLED)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read catalogue {path}: {exc}") from exc
    return parse_catalogue_text(text, source=str(path))


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The bundled catalogue, parsed once per process."""
    return load_catalogue()
