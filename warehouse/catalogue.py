"""Keep the ``entities`` table in step with the entity catalogue the run matched with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from warehouse.db import connect
from warehouse.load import load_entities


def sync_catalogue(
    db_path: Path,
    entities: Sequence[Mapping[str, object]],
    version: str,
    *,
    lock_timeout: float = 30.0,
) -> bool:
    """Upsert the catalogue's entities unless this version is already stored whole.

    Returns True when rows were written. Raises WarehouseLocked if the file stays locked.
    """
    with connect(db_path, lock_timeout=lock_timeout) as con:
        row = con.execute(
            "SELECT count(*) FROM entities WHERE catalogue_version = $version",
            {"version": version},
        ).fetchone()
        if row is not None and row[0] == len(entities):
            return False
        con.begin()
        load_entities(con, entities, version)
        con.commit()
    return True
