"""One declaration per warehouse table: its columns, DuckDB types, nullability, defaults, keys
and which columns are staged (with their Arrow types).

``create_table_sql(spec)`` is the CREATE TABLE of a fresh database at the current schema and
``arrow_schema(spec)`` the pyarrow schema of the table's staged Parquet file
(``warehouse/staging.py``'s ``SCHEMAS`` is built from these). The migration steps in
``warehouse/schema.py`` stay literal history (an old file must replay them unchanged), so a new
column means: one ``Column`` here plus one ``ALTER TABLE`` migration; tests/test_table_specs.py
fails when the migrated database, the spec, the staging schema or the record dataclasses
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

import pyarrow as pa

_TS = pa.timestamp("us", tz="UTC")

# DuckDB type -> Arrow type of its staged column (the only types the tables use).
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": _TS,
    "DATE": pa.date32(),
    "VARCHAR[]": pa.list_(pa.string()),
    "UBIGINT[]": pa.list_(pa.uint64()),
    "STRUCT(stage VARCHAR, seconds DOUBLE)[]": pa.list_(
        pa.struct([("stage", pa.string()), ("seconds", pa.float64())])
    ),
}


@dataclass(frozen=True)
class Column:
    name: str
    duck: str
    nullable: bool = True
    default: str | None = None  # SQL literal; constants only (see schema.py)
    primary_key: bool = False
    staged: bool = True  # present in the staged Parquet file
    staged_as: str | None = None  # the staged file's name for it, when it differs

    @property
    def arrow(self) -> pa.DataType:
        return ARROW_TYPES[self.duck]

    @property
    def staged_name(self) -> str:
        return self.staged_as or self.name


@dataclass(frozen=True)
class TableSpec:
    name: str  # DuckDB table
    columns: tuple[Column, ...]
    staged_as: str | None = None  # name of the staged Parquet file; None: not staged
    constraints: tuple[str, ...] = ()  # UNIQUE / CHECK clauses, verbatim

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    def with_column(self, column: Column) -> TableSpec:
        """A copy with ``column`` appended (as an ALTER TABLE ADD COLUMN would)."""
        return replace(self, columns=(*self.columns, column))


class _Options(TypedDict, total=False):
    """``Column``'s keyword fields the helpers pass on (``nullable`` is theirs to set)."""

    default: str | None
    primary_key: bool
    staged: bool
    staged_as: str | None


def _c(name: str, duck: str = "VARCHAR", **kw: Unpack[_Options]) -> Column:
    return Column(name, duck, **kw)


def _nn(name: str, duck: str = "VARCHAR", **kw: Unpack[_Options]) -> Column:
    return Column(name, duck, nullable=False, **kw)


def _pk(name: str, duck: str = "VARCHAR") -> Column:
    return Column(name, duck, nullable=False, primary_key=True)


_TZ = "TIMESTAMPTZ"

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "runs",
        (
            _pk("run_id"),
            _nn("started_at", _TZ),
            _c("finished_at", _TZ),
            _c("flow_run_id"),
            _nn("feeds_polled", "INTEGER", default="0"),
            _nn("feeds_failed", "INTEGER", default="0"),
            _nn("feeds_unchanged", "INTEGER", default="0"),
            _nn("new_articles", "INTEGER", default="0"),
            _nn("on_topic_articles", "INTEGER", default="0"),
            _nn("mentions", "INTEGER", default="0"),
            _c("errors", "VARCHAR[]"),
            _c("catalogue_version"),
            _c("timings", "STRUCT(stage VARCHAR, seconds DOUBLE)[]"),
            _c("staged_at", _TZ),
            _c("loaded_at", _TZ, staged=False),
            _c("articles_added", "INTEGER", staged=False),
            _c("mentions_added", "INTEGER", staged=False),
            _c("settings_json"),
            _c("package_versions"),
        ),
        staged_as="runs",
    ),
    TableSpec(
        "sources",
        (
            _pk("source_id"),
            _nn("name"),
            _nn("url"),
            _c("language"),
            _nn("kind", default="'rss'"),
            _nn("enabled", "BOOLEAN", default="true"),
            _c("updated_at", _TZ, staged=False),
        ),
        staged_as="sources",
    ),
    TableSpec(
        "feed_state",
        (
            _pk("source_id"),
            _c("etag"),
            _c("last_modified"),
            _c("last_status"),
            _c("last_http_status", "INTEGER"),
            _c("last_error"),
            _nn("consecutive_failures", "INTEGER", default="0"),
            _c("last_polled_at", _TZ),
            _c("last_success_at", _TZ),
            _c("next_poll_at", _TZ),
            _nn("items_seen", "BIGINT", default="0"),
            _c("retired_at", _TZ),
            _c("gone_since", _TZ),
        ),
        staged_as="feed_states",
    ),
    TableSpec(
        "feed_polls",
        (
            _nn("run_id", primary_key=True),
            _nn("source_id", primary_key=True),
            _nn("url"),
            _nn("status"),
            _nn("fetched_at", _TZ, primary_key=True),
            _c("http_status", "INTEGER"),
            _c("error"),
            _c("error_class"),
            _c("etag"),
            _c("last_modified"),
            _c("final_url"),
            _nn("bozo", "BOOLEAN", default="false"),
            _c("bozo_error"),
            _c("discovered_feed_url"),
            _nn("entry_count", "INTEGER", default="0"),
            _c("elapsed_ms", "DOUBLE"),
            _c("retry_after_s", "DOUBLE"),
            _c("notes", "VARCHAR[]"),
        ),
        staged_as="feed_polls",
    ),
    TableSpec(
        "articles",
        (
            _pk("article_id"),
            _nn("source_id"),
            _nn("outlet"),
            _nn("url"),
            _nn("canonical_url"),
            _c("title"),
            _nn("text"),
            _c("summary"),
            _c("author"),
            _c("published_at", _TZ),
            _c("date_method"),
            _nn("first_seen_at", _TZ),
            _nn("published_day", "DATE", staged=False),
            _c("language"),
            _nn("status"),
            _c("status_reason"),
            _c("content_hash"),
            _c("story_id"),
            _nn("relevance", "DOUBLE", default="0"),
            _nn("on_topic", "BOOLEAN", default="false"),
            _c("guid"),
            _c("http_status", "INTEGER"),
            _c("final_url"),
            _c("story_signature", "UBIGINT[]"),
            _c("run_id"),
            _c("date_confidence"),
            _c("date_flag"),
            _c("relevance_rule"),
            _c("body_hash"),
            _c("published_offset_minutes", "INTEGER"),  # the date's declared UTC offset
        ),
        staged_as="articles",
    ),
    TableSpec(
        "article_aliases",
        (
            _pk("url"),
            _nn("article_id"),
            _nn("source_id"),
            _c("canonical_url"),
            _c("final_url"),
            _nn("reason"),
            _c("similarity", "DOUBLE"),
            _nn("first_seen_at", _TZ),
            _c("run_id"),
        ),
        staged_as="article_aliases",
    ),
    TableSpec(
        "page_failures",
        (
            _pk("url"),
            _nn("source_id"),
            _c("guid"),
            _nn("link"),
            _c("title"),
            _c("summary"),
            _c("published_at", _TZ),
            _c("date_flag"),
            _c("authors", "VARCHAR[]"),
            _c("tags", "VARCHAR[]"),
            _c("http_status", "INTEGER"),
            _c("error"),
            _c("error_class"),
            _nn("attempts", "INTEGER", default="0"),
            _nn("first_failed_at", _TZ),
            _nn("last_attempt_at", _TZ),
            _c("next_attempt_at", _TZ),
            _nn("status", default="'pending'"),
            _c("final_url"),
            _c("resolved_at", _TZ, staged=False),
            _c("run_id"),
        ),
        staged_as="page_failures",
        constraints=("CHECK (status IN ('pending', 'gave_up', 'resolved'))",),
    ),
    TableSpec(
        "alerts",
        (
            _pk("alert_id"),
            _nn("rule"),
            _nn("kind"),
            _nn("story_id"),
            _nn("channel"),
            _nn("delivery", default="'immediate'"),
            _c("article_id"),
            _nn("created_at", _TZ),
            _nn("status", default="'pending'", staged=False),
            _nn("attempts", "INTEGER", default="0", staged=False),
            _c("next_attempt_at", _TZ, staged=False),
            _c("last_error", staged=False),
            _c("sent_at", _TZ, staged=False),
            _nn("idempotency_key", staged=False),
            _nn("payload", default="'{}'", staged_as="payload_json"),
        ),
        staged_as="alerts",
        constraints=(
            "UNIQUE (rule, story_id, channel)",
            "CHECK (status IN ('pending', 'sent', 'failed'))",
        ),
    ),
    TableSpec(
        "entities",
        (
            _pk("entity_id"),
            _nn("name"),
            _c("type"),
            _c("side"),
            _c("catalogue_version", staged=False),
            _c("updated_at", _TZ, staged=False),
        ),
        staged_as="entities",
    ),
    TableSpec(
        "mentions",
        (
            _nn("article_id"),
            _nn("entity_id"),
            _nn("count", "INTEGER"),
            _c("first_offset", "INTEGER"),
            _c("snippet"),
            _c("alias"),
            _nn("published_day", "DATE", staged=False),
        ),
        staged_as="mentions",
    ),
    TableSpec(
        "emerging_terms",
        (
            _nn("term", primary_key=True),
            _nn("run_id", primary_key=True),
            _nn("count", "INTEGER"),
            _nn("outlets", "INTEGER"),
            _c("example"),
            _c("first_seen_at", _TZ),
            _c("outlet_names", "VARCHAR[]"),
        ),
        staged_as="emerging_terms",
    ),
    TableSpec(
        "catalogue_versions",
        (
            _pk("version"),
            _c("path"),
            _nn("entities", "INTEGER", default="0"),
            _nn("recorded_at", _TZ),
            _nn("recorded_by", default="'run'"),
            _c("summary"),
        ),
    ),
    TableSpec(  # written by the fetch stage, not staged: a cache (warehouse/gnews_links.py)
        "gnews_links",
        (
            _pk("link"),  # the Google News article link, as the feed gave it
            _nn("publisher_url"),  # the URL Google's batchexecute call decoded it to
            _nn("decoded_at", _TZ),
        ),
    ),
    TableSpec(  # written at load from articles.story_signature, not staged (warehouse/load.py)
        "story_bands",
        (
            _nn("band", "INTEGER"),  # 0-31: the LSH band (extractors/dedup.py: band_keys)
            _nn("key", "UBIGINT"),  # the band's two signature values as one integer
            _nn("article_id"),
            _nn("first_seen_at", _TZ),  # the article's, so the story window prunes old rows
        ),
    ),
)

TABLE_SPECS: dict[str, TableSpec] = {t.name: t for t in TABLES}


def create_table_sql(spec: TableSpec) -> str:
    """CREATE TABLE for a fresh database at the current schema (same columns, types,
    nullability, defaults, keys and constraints as the migrations give)."""
    single_pk = len(spec.primary_key) == 1
    lines = []
    for c in spec.columns:
        parts = [c.name, c.duck]
        if c.primary_key and single_pk:
            parts.append("PRIMARY KEY")
        elif not c.nullable:
            parts.append("NOT NULL")
        if c.default is not None:
            parts.append(f"DEFAULT {c.default}")
        lines.append(" ".join(parts))
    if len(spec.primary_key) > 1:
        lines.append(f"PRIMARY KEY ({', '.join(spec.primary_key)})")
    lines += spec.constraints
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {spec.name} (\n    {body}\n)"


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The staged Parquet file's schema: the staged columns in table order."""
    return pa.schema([(c.staged_name, c.arrow) for c in spec.columns if c.staged])


# The staged files in the order staging writes and checks them.
STAGED_ORDER = (
    "runs",
    "sources",
    "feed_states",
    "feed_polls",
    "articles",
    "article_aliases",
    "page_failures",
    "alerts",
    "entities",
    "mentions",
    "emerging_terms",
)


def staging_schemas(specs: tuple[TableSpec, ...] = TABLES) -> dict[str, pa.Schema]:
    """``{staged file name: Arrow schema}`` for every staged table, in STAGED_ORDER."""
    by_file = {t.staged_as: t for t in specs if t.staged_as}
    return {name: arrow_schema(by_file[name]) for name in STAGED_ORDER}
