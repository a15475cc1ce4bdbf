"""DDL of the tables, one tuple of statements per migration step.

Rules kept for duckdb 1.5.5: only constant defaults (a non-constant default such as
``now()`` in an ALTER can make the WAL unreplayable after a crash), no foreign keys
(updates of referenced rows would be refused); timestamps are TIMESTAMPTZ in UTC.

These steps are history: an existing file replays them unchanged, so they are never edited.
The current shape of every table is declared once in ``core/tables.py`` (DDL for a fresh
database and the staging schemas come from it); a new column is a ``Column`` there plus an
``ALTER TABLE`` step here, and tests/test_table_specs.py fails until both agree.
"""

from __future__ import annotations

CORE_TABLES = (
    """
    CREATE TABLE sources (
        source_id   VARCHAR PRIMARY KEY,
        name        VARCHAR NOT NULL,
        url         VARCHAR NOT NULL,
        language    VARCHAR,
        kind        VARCHAR NOT NULL DEFAULT 'rss',
        enabled     BOOLEAN NOT NULL DEFAULT true,
        updated_at  TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE feed_state (
        source_id            VARCHAR PRIMARY KEY,
        etag                 VARCHAR,
        last_modified        VARCHAR,
        last_status          VARCHAR,
        last_http_status     INTEGER,
        last_error           VARCHAR,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_polled_at       TIMESTAMPTZ,
        last_success_at      TIMESTAMPTZ,
        next_poll_at         TIMESTAMPTZ,
        items_seen           BIGINT NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE feed_polls (
        run_id              VARCHAR NOT NULL,
        source_id           VARCHAR NOT NULL,
        url                 VARCHAR NOT NULL,
        status              VARCHAR NOT NULL,
        fetched_at          TIMESTAMPTZ NOT NULL,
        http_status         INTEGER,
        error               VARCHAR,
        error_class         VARCHAR,
        etag                VARCHAR,
        last_modified       VARCHAR,
        final_url           VARCHAR,
        bozo                BOOLEAN NOT NULL DEFAULT false,
        bozo_error          VARCHAR,
        discovered_feed_url VARCHAR,
        entry_count         INTEGER NOT NULL DEFAULT 0,
        elapsed_ms          DOUBLE,
        retry_after_s       DOUBLE,
        notes               VARCHAR[],
        PRIMARY KEY (run_id, source_id, fetched_at)
    )
    """,
    """
    CREATE TABLE articles (
        article_id      VARCHAR PRIMARY KEY,
        source_id       VARCHAR NOT NULL,
        outlet          VARCHAR NOT NULL,
        url             VARCHAR NOT NULL,
        canonical_url   VARCHAR NOT NULL,
        title           VARCHAR,
        text            VARCHAR NOT NULL,
        summary         VARCHAR,
        author          VARCHAR,
        published_at    TIMESTAMPTZ,
        date_method     VARCHAR,
        first_seen_at   TIMESTAMPTZ NOT NULL,
        published_day   DATE NOT NULL,
        language        VARCHAR,
        status          VARCHAR NOT NULL,
        status_reason   VARCHAR,
        content_hash    VARCHAR,
        story_id        VARCHAR,
        relevance       DOUBLE NOT NULL DEFAULT 0,
        on_topic        BOOLEAN NOT NULL DEFAULT false,
        guid            VARCHAR,
        http_status     INTEGER,
        final_url       VARCHAR,
        story_signature UBIGINT[],
        run_id          VARCHAR
    )
    """,
    """
    CREATE TABLE entities (
        entity_id         VARCHAR PRIMARY KEY,
        name              VARCHAR NOT NULL,
        type              VARCHAR,
        side              VARCHAR,
        catalogue_version VARCHAR,
        updated_at        TIMESTAMPTZ
    )
    """,
    """
    CREATE TABLE mentions (
        article_id    VARCHAR NOT NULL,
        entity_id     VARCHAR NOT NULL,
        count         INTEGER NOT NULL,
        first_offset  INTEGER,
        snippet       VARCHAR,
        alias         VARCHAR,
        published_day DATE NOT NULL
    )
    """,
)

OPERATIONS_TABLES = (
    """
    CREATE TABLE runs (
        run_id            VARCHAR PRIMARY KEY,
        started_at        TIMESTAMPTZ NOT NULL,
        finished_at       TIMESTAMPTZ,
        flow_run_id       VARCHAR,
        feeds_polled      INTEGER NOT NULL DEFAULT 0,
        feeds_failed      INTEGER NOT NULL DEFAULT 0,
        feeds_unchanged   INTEGER NOT NULL DEFAULT 0,
        new_articles      INTEGER NOT NULL DEFAULT 0,
        on_topic_articles INTEGER NOT NULL DEFAULT 0,
        mentions          INTEGER NOT NULL DEFAULT 0,
        errors            VARCHAR[],
        catalogue_version VARCHAR,
        timings           STRUCT(stage VARCHAR, seconds DOUBLE)[],
        staged_at         TIMESTAMPTZ,
        loaded_at         TIMESTAMPTZ,
        articles_added    INTEGER,
        mentions_added    INTEGER
    )
    """,
    """
    CREATE TABLE alerts (
        alert_id        VARCHAR PRIMARY KEY,
        rule            VARCHAR NOT NULL,
        kind            VARCHAR NOT NULL,
        story_id        VARCHAR NOT NULL,
        channel         VARCHAR NOT NULL,
        delivery        VARCHAR NOT NULL DEFAULT 'immediate',
        article_id      VARCHAR,
        created_at      TIMESTAMPTZ NOT NULL,
        status          VARCHAR NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMPTZ,
        last_error      VARCHAR,
        sent_at         TIMESTAMPTZ,
        idempotency_key VARCHAR NOT NULL,
        payload         VARCHAR NOT NULL DEFAULT '{}',
        UNIQUE (rule, story_id, channel),
        CHECK (status IN ('pending', 'sent', 'failed'))
    )
    """,
    """
    CREATE TABLE emerging_terms (
        term          VARCHAR NOT NULL,
        run_id        VARCHAR NOT NULL,
        count         INTEGER NOT NULL,
        outlets       INTEGER NOT NULL,
        example       VARCHAR,
        first_seen_at TIMESTAMPTZ,
        PRIMARY KEY (term, run_id)
    )
    """,
)

# migration 5: trust and provenance (issue 11) and catalogue versions (issue 5's rematch)
TRUST_PROVENANCE = (
    """
    CREATE TABLE catalogue_versions (
        version     VARCHAR PRIMARY KEY,
        path        VARCHAR,
        entities    INTEGER NOT NULL DEFAULT 0,
        recorded_at TIMESTAMPTZ NOT NULL,
        recorded_by VARCHAR NOT NULL DEFAULT 'run',
        summary     VARCHAR
    )
    """,
    "ALTER TABLE articles ADD COLUMN date_confidence VARCHAR",
    "ALTER TABLE articles ADD COLUMN date_flag VARCHAR",
    "ALTER TABLE articles ADD COLUMN relevance_rule VARCHAR",
    "ALTER TABLE runs ADD COLUMN settings_json VARCHAR",
    "ALTER TABLE runs ADD COLUMN package_versions VARCHAR",
    "ALTER TABLE emerging_terms ADD COLUMN outlet_names VARCHAR[]",
)

# migration 7: content identity and error pages (issue 14, item 5)
CONTENT_IDENTITY = (
    "ALTER TABLE articles ADD COLUMN body_hash VARCHAR",
    """
    CREATE TABLE article_aliases (
        url           VARCHAR PRIMARY KEY,
        article_id    VARCHAR NOT NULL,
        source_id     VARCHAR NOT NULL,
        canonical_url VARCHAR,
        final_url     VARCHAR,
        reason        VARCHAR NOT NULL,
        similarity    DOUBLE,
        first_seen_at TIMESTAMPTZ NOT NULL,
        run_id        VARCHAR
    )
    """,
    """
    CREATE TABLE page_failures (
        url             VARCHAR PRIMARY KEY,
        source_id       VARCHAR NOT NULL,
        guid            VARCHAR,
        link            VARCHAR NOT NULL,
        title           VARCHAR,
        summary         VARCHAR,
        published_at    TIMESTAMPTZ,
        date_flag       VARCHAR,
        authors         VARCHAR[],
        tags            VARCHAR[],
        http_status     INTEGER,
        error           VARCHAR,
        error_class     VARCHAR,
        attempts        INTEGER NOT NULL DEFAULT 0,
        first_failed_at TIMESTAMPTZ NOT NULL,
        last_attempt_at TIMESTAMPTZ NOT NULL,
        next_attempt_at TIMESTAMPTZ,
        status          VARCHAR NOT NULL DEFAULT 'pending',
        final_url       VARCHAR,
        resolved_at     TIMESTAMPTZ,
        run_id          VARCHAR,
        CHECK (status IN ('pending', 'gave_up', 'resolved'))
    )
    """,
)

# migration 9: Google News links decoded to their publisher's URL (extractors/gnews.py)
GNEWS_LINKS = (
    """
    CREATE TABLE gnews_links (
        link          VARCHAR PRIMARY KEY,
        publisher_url VARCHAR NOT NULL,
        decoded_at    TIMESTAMPTZ NOT NULL
    )
    """,
)
