"""Write an IngestBatch as Parquet files plus a manifest, atomically; list and verify them.

A staged batch is a directory ``<staged_at>__<run_id>/`` holding one Parquet file per table
and ``manifest.json`` (row counts). It is written under a hidden temporary name and renamed
into place, so a reader never sees half a batch; the loader re-checks every row count.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from newswatch.core.errors import WarehouseError
from newswatch.core.records import (
    ArticleRecord,
    FeedPoll,
    FeedState,
    IngestBatch,
    MentionRecord,
    RunRecord,
    Source,
)
from newswatch.core.tables import staging_schemas

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
LOADED_DIR = "loaded"
REJECTED_DIR = "rejected"

# One Arrow schema per staged file, derived from the table specs (core/tables.py), which
# also give the DDL; tests/test_table_specs.py checks them against a migrated database.
SCHEMAS: dict[str, pa.Schema] = staging_schemas()


@dataclass(frozen=True)
class StagedBatch:
    path: Path
    run_id: str
    staged_at: datetime
    rows: dict[str, int]

    def file(self, table: str) -> Path:
        return self.path / f"{table}.parquet"


def stage_batch(batch: IngestBatch, staging_dir: Path) -> Path:
    """Write ``batch`` under ``staging_dir`` as Parquet + manifest; returns the directory.

    Staging the same run twice gives two directories; loading both is still a no-op the
    second time (keyed upserts). A failed write (e.g. disk full) removes the partial
    directory and raises WarehouseError; the database is not touched.
    """
    staging_dir = Path(staging_dir)
    staging_dir.mkdir(parents=True, exist_ok=True)
    staged_at = datetime.now(UTC)
    name = f"{staged_at:%Y%m%dT%H%M%S%fZ}__{_safe(batch.run.run_id)}"
    tmp = staging_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        rows = {}
        for table, records in _table_rows(batch, staged_at).items():
            arrow = pa.Table.from_pylist(records, schema=SCHEMAS[table])
            pq.write_table(arrow, tmp / f"{table}.parquet", compression="zstd")
            rows[table] = arrow.num_rows
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": batch.run.run_id,
            "staged_at": staged_at.isoformat(),
            "rows": rows,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        final = staging_dir / name
        tmp.rename(final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WarehouseError(f"could not stage run {batch.run.run_id}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def staged_batches(staging_dir: Path) -> list[Path]:
    """Staged batch directories, oldest first (hidden temporaries and sub-folders skipped)."""
    staging_dir = Path(staging_dir)
    if not staging_dir.is_dir():
        return []
    found = [
        p
        for p in staging_dir.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def read_staged(path: Path) -> StagedBatch:
    """Read the manifest and check every file's row count; raises WarehouseError if not."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        batch = StagedBatch(
            path=path,
            run_id=str(manifest["run_id"]),
            staged_at=datetime.fromisoformat(manifest["staged_at"]),
            rows={str(k): int(v) for k, v in manifest["rows"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WarehouseError(f"staged batch {path.name}: unreadable manifest: {exc}") from exc
    for table in SCHEMAS:
        expected = batch.rows.get(table)
        if expected is None:  # staged by an older version: the table is simply absent
            continue
        try:
            actual = pq.read_metadata(batch.file(table)).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise WarehouseError(f"staged batch {path.name}: {table}: {exc}") from exc
        if actual != expected:
            raise WarehouseError(
                f"staged batch {path.name}: {table} has {actual} rows, manifest says {expected}"
            )
    return batch


def conform_to_schema(batch: StagedBatch) -> tuple[str, ...]:
    """Give an older batch's files the columns this version stages (as nulls), in place.

    A batch staged before an upgrade lacks the columns added since (e.g.
    ``feed_states.retired_at``); the load statements name every current column, so the
    file is rewritten with the missing ones null (written beside it, then renamed: a crash
    leaves either file whole). Returns ``table.column`` for each column added; idempotent.
    """
    added: list[str] = []
    for table, schema in SCHEMAS.items():
        if table not in batch.rows:
            continue
        path = batch.file(table)
        try:
            have = pq.read_schema(path)
            missing = [f for f in schema if f.name not in have.names]
            if not missing:
                continue
            arrow = pq.read_table(path)
            for f in missing:
                arrow = arrow.append_column(f, pa.nulls(arrow.num_rows, type=f.type))
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            pq.write_table(arrow, tmp, compression="zstd")
            os.replace(tmp, path)
        except (OSError, pa.ArrowException) as exc:
            raise WarehouseError(f"staged batch {batch.path.name}: {table}: {exc}") from exc
        added += [f"{table}.{f.name}" for f in missing]
    return tuple(added)


def remove_stale_temporaries(
    staging_dir: Path, *, older_than: float = 3600.0, writer_held: bool = False
) -> tuple[Path, ...]:
    """Delete ``.tmp-*`` directories that interrupted stagings left behind.

    With the writer lock held here (``writer_held``) nobody else can be staging into this
    directory, so every temporary goes; otherwise only those untouched for ``older_than``
    seconds. Returns what was removed.
    """
    staging_dir = Path(staging_dir)
    if not staging_dir.is_dir():
        return ()
    cutoff = time.time() - older_than
    removed: list[Path] = []
    for candidate in staging_dir.glob(".tmp-*"):
        try:
            stale = writer_held or candidate.stat().st_mtime < cutoff
        except OSError:
            continue
        if stale and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return tuple(sorted(removed))


def _table_rows(batch: IngestBatch, staged_at: datetime) -> dict[str, list[dict[str, Any]]]:
    run_id = batch.run.run_id
    return {
        "runs": [_run_row(batch.run, staged_at)],
        "sources": [_source_row(s) for s in batch.sources],
        "feed_states": [_plain(s) for s in batch.feed_states],
        "feed_polls": [_poll_row(p, run_id) for p in batch.feed_polls],
        "articles": [_article_row(a, run_id) for a in batch.articles],
        "mentions": [_plain(m) for m in batch.mentions],
        "alerts": [dict(a.__dict__) for a in getattr(batch, "alerts", ())],
        "entities": [_entity_row(e) for e in getattr(batch, "entities", ())],
        "emerging_terms": [
            {**t.__dict__, "outlet_names": list(t.outlet_names)}
            for t in getattr(batch, "emerging_terms", ())
        ],
        "article_aliases": [{**a.__dict__, "run_id": run_id} for a in batch.aliases],
        "page_failures": [
            {**f.__dict__, "authors": list(f.authors), "tags": list(f.tags), "run_id": run_id}
            for f in batch.page_failures
        ],
    }


def _entity_row(entity: object) -> dict[str, Any]:
    return {
        "entity_id": str(getattr(entity, "id")),  # noqa: B009 - any object with these fields
        "name": str(getattr(entity, "name", None) or getattr(entity, "id")),  # noqa: B009
        "type": getattr(entity, "type", None),
        "side": getattr(entity, "side", None),
    }


def _plain(record: FeedState | MentionRecord) -> dict[str, Any]:
    return dict(record.__dict__)


def _run_row(run: RunRecord, staged_at: datetime) -> dict[str, Any]:
    row = dict(run.__dict__)
    row["errors"] = list(run.errors)
    row["timings"] = [{"stage": s, "seconds": float(t)} for s, t in run.timings]
    row["staged_at"] = staged_at
    return row


def _source_row(source: Source) -> dict[str, Any]:
    row = dict(source.__dict__)
    row["source_id"] = row.pop("id")
    return row


def _poll_row(poll: FeedPoll, run_id: str) -> dict[str, Any]:
    row = {k: v for k, v in poll.__dict__.items() if k != "entries"}
    row["run_id"] = run_id
    row["entry_count"] = len(poll.entries)
    row["notes"] = list(getattr(poll, "notes", ()))
    return row


def _article_row(article: ArticleRecord, run_id: str) -> dict[str, Any]:
    row = dict(article.__dict__)
    row["story_signature"] = list(article.story_signature)
    row["run_id"] = run_id
    return row


def _safe(run_id: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip(".-")
    return cleaned[:80] or "run"


def move_batch(path: Path, to: str) -> Path:
    """Move a staged batch into ``staging_dir/<to>/`` (loaded or rejected)."""
    target_dir = path.parent / to
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        shutil.rmtree(target)
    path.rename(target)
    return target
