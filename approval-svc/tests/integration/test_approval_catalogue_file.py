"""The catalogue file named by APPROVAL_CATALOGUE_PATH is read and checked (real files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from approval_svc.catalogue_file import bundled_catalogue_text, load_catalogue
from approval_svc.domain.errors import CatalogueError

pytestmark = pytest.mark.integration


def test_a_file_given_by_path_equals_the_bundled_one(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(bundled_catalogue_text(), "utf-8")
    assert load_catalogue(path) == load_catalogue()


def test_unreadable_or_broken_files_are_catalogue_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n", "utf-8")
    with pytest.raises(CatalogueError, match=f"catalogue {bad} is not valid YAML"):
        load_catalogue(bad)
    bad.write_text("- 1\n- 2\n", "utf-8")
    with pytest.raises(CatalogueError, match="mapping"):
        load_catalogue(bad)
