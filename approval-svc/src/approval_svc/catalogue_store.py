"""Load the versioned catalogue data file into the database (what the API serves)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from approval_svc.domain.catalogue import Catalogue
from approval_svc.models import CatalogueMeta, DepartmentRow, MatterRow
from shared.db import SessionFactory


def catalogue_digest(catalogue: Catalogue) -> str:
    canonical = json.dumps(catalogue.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def sync_catalogue(sessions: SessionFactory, catalogue: Catalogue, *, now: datetime) -> bool:
    """Replace the catalogue tables when the file changed; returns whether it did."""
    digest = catalogue_digest(catalogue)
    async with sessions() as session:
        meta = await session.get(CatalogueMeta, 1)
        if meta is not None and meta.digest == digest:
            await session.rollback()
            return False
        await session.execute(delete(MatterRow))
        await session.execute(delete(DepartmentRow))
        session.add_all(
            DepartmentRow(code=d.code, name=d.name, name_zh=d.name_zh)
            for d in catalogue.departments
        )
        session.add_all(
            MatterRow(
                code=m.code,
                department=m.department,
                position=position,
                name=m.name,
                name_zh=m.name_zh,
                legal_limit=m.legal_limit,
                promised_limit=m.promised_limit,
                day_kind=m.day_kind,
                consultative=m.consultative,
                estimated=m.estimated,
            )
            for position, m in enumerate(catalogue.matters)
        )
        if meta is None:
            session.add(
                CatalogueMeta(id=1, version=catalogue.version, digest=digest, loaded_at=now)
            )
        else:
            meta.version, meta.digest, meta.loaded_at = catalogue.version, digest, now
        try:
            await session.commit()
        except IntegrityError:
            # Another process of this service loaded the same file at the same moment.
            await session.rollback()
            return False
        return True
