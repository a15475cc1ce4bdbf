"""Trend views and table macros, created by a migration and documented in docs/QUERIES.md.

Dates: ``published_day`` is the UTC day of ``published_at`` (or of ``first_seen_at`` when
the article has no date); it is stored on articles and copied onto mentions at load time so
series over mentions need no join. A "story" is ``coalesce(story_id, article_id)``.
Macro arguments: ``entity`` is an ``entity_id``; ``bucket`` is 'day' | 'week' | 'month';
``since``/``until`` are dates (a DATE or an ISO string).
"""

from __future__ import annotations

TREND_OBJECTS = (
    """
    CREATE OR REPLACE VIEW stories AS
    SELECT coalesce(story_id, article_id)     AS story_id,
           min(first_seen_at)                 AS first_seen_at,
           min(published_day)                 AS first_day,
           count(*)                           AS articles,
           count(DISTINCT outlet)             AS outlets,
           arg_min(title, first_seen_at)      AS title,
           bool_or(on_topic)                  AS on_topic
    FROM articles
    GROUP BY 1
    """,
    """
    CREATE OR REPLACE MACRO entity_series(entity, bucket, since) AS TABLE
    SELECT date_trunc(bucket, m.published_day)::DATE       AS period,
           CAST(sum(m.count) AS BIGINT)                    AS mentions,
           count(*)                                        AS articles,
           count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories
    FROM mentions AS m
    JOIN articles AS a USING (article_id)
    WHERE m.entity_id = entity AND m.published_day >= CAST(since AS DATE)
    GROUP BY 1
    ORDER BY 1
    """,
    """
    CREATE OR REPLACE MACRO entity_series_by_outlet(entity, bucket, since) AS TABLE
    SELECT date_trunc(bucket, m.published_day)::DATE       AS period,
           a.outlet                                        AS outlet,
           CAST(sum(m.count) AS BIGINT)                    AS mentions,
           count(*)                                        AS articles,
           count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories
    FROM mentions AS m
    JOIN articles AS a USING (article_id)
    WHERE m.entity_id = entity AND m.published_day >= CAST(since AS DATE)
    GROUP BY 1, 2
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO entity_series_by_language(entity, bucket, since) AS TABLE
    SELECT date_trunc(bucket, m.published_day)::DATE       AS period,
           coalesce(a.language, 'und')                     AS language,
           CAST(sum(m.count) AS BIGINT)                    AS mentions,
           count(*)                                        AS articles,
           count(DISTINCT coalesce(a.story_id, a.article_id)) AS stories
    FROM mentions AS m
    JOIN articles AS a USING (article_id)
    WHERE m.entity_id = entity AND m.published_day >= CAST(since AS DATE)
    GROUP BY 1, 2
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO outlet_series(bucket, since) AS TABLE
    SELECT date_trunc(bucket, published_day)::DATE        AS period,
           outlet,
           count(*)                                       AS articles,
           count(*) FILTER (WHERE on_topic)               AS on_topic_articles,
           count(DISTINCT coalesce(story_id, article_id)) AS stories
    FROM articles
    WHERE published_day >= CAST(since AS DATE)
    GROUP BY 1, 2
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO cooccurring_with(entity, since, until) AS TABLE
    WITH hits AS (
        SELECT article_id FROM mentions
        WHERE entity_id = entity
          AND published_day >= CAST(since AS DATE) AND published_day < CAST(until AS DATE)
    )
    SELECT m.entity_id, any_value(e.name) AS name, count(*) AS articles
    FROM mentions AS m
    SEMI JOIN hits USING (article_id)
    LEFT JOIN entities AS e USING (entity_id)
    WHERE m.entity_id <> entity
      AND m.published_day >= CAST(since AS DATE) AND m.published_day < CAST(until AS DATE)
    GROUP BY 1
    ORDER BY articles DESC, m.entity_id
    """,
    """
    CREATE OR REPLACE MACRO cooccurrence_pairs(since, until) AS TABLE
    WITH window_mentions AS (
        SELECT article_id, entity_id FROM mentions
        WHERE published_day >= CAST(since AS DATE) AND published_day < CAST(until AS DATE)
    )
    SELECT a.entity_id AS entity_a, b.entity_id AS entity_b, count(*) AS articles
    FROM window_mentions AS a
    JOIN window_mentions AS b ON a.article_id = b.article_id AND a.entity_id < b.entity_id
    GROUP BY 1, 2
    ORDER BY articles DESC, entity_a, entity_b
    """,
    """
    CREATE OR REPLACE MACRO entity_spikes(since) AS TABLE
    WITH daily AS (
        SELECT entity_id, published_day AS day, count(*) AS articles
        FROM mentions
        WHERE published_day >= CAST(since AS DATE) - 28
        GROUP BY 1, 2
    ),
    days AS (
        SELECT CAST(unnest(generate_series(
                   CAST(CAST(since AS DATE) - 28 AS TIMESTAMP),
                   CAST((SELECT max(day) FROM daily) AS TIMESTAMP),
                   INTERVAL 1 DAY)) AS DATE) AS day
    ),
    dense AS (
        SELECT e.entity_id, d.day, coalesce(daily.articles, 0) AS articles
        FROM (SELECT DISTINCT entity_id FROM daily) AS e
        CROSS JOIN days AS d
        LEFT JOIN daily ON daily.entity_id = e.entity_id AND daily.day = d.day
    ),
    scored AS (
        SELECT entity_id, day, articles,
               avg(articles) OVER last_28         AS baseline_mean,
               stddev_pop(articles) OVER last_28  AS baseline_sd
        FROM dense
        WINDOW last_28 AS (
            PARTITION BY entity_id ORDER BY day ROWS BETWEEN 28 PRECEDING AND 1 PRECEDING)
    )
    SELECT entity_id, day, articles,
           round(baseline_mean, 3) AS baseline_mean,
           round(baseline_sd, 3)   AS baseline_sd,
           round((articles - baseline_mean) / greatest(baseline_sd, 1.0), 3) AS z
    FROM scored
    WHERE day >= CAST(since AS DATE)
    ORDER BY z DESC, day DESC, entity_id
    """,
    """
    CREATE OR REPLACE MACRO first_seen_entities(since) AS TABLE
    WITH firsts AS (
        SELECT m.entity_id,
               min(a.first_seen_at)                   AS first_seen_at,
               arg_min(a.outlet, a.first_seen_at)     AS first_outlet,
               arg_min(a.title, a.first_seen_at)      AS first_title,
               count(*)                               AS articles
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        GROUP BY 1
    )
    SELECT f.entity_id, e.name, e.type, f.first_seen_at, f.first_outlet, f.first_title,
           f.articles
    FROM firsts AS f
    LEFT JOIN entities AS e USING (entity_id)
    WHERE f.first_seen_at >= CAST(since AS DATE)
    ORDER BY f.first_seen_at DESC, f.entity_id
    """,
    """
    CREATE OR REPLACE MACRO coverage_share(bucket, since) AS TABLE
    WITH totals AS (
        SELECT date_trunc(bucket, published_day)::DATE AS period, count(*) AS on_topic_articles
        FROM articles
        WHERE on_topic AND published_day >= CAST(since AS DATE)
        GROUP BY 1
    ),
    per_entity AS (
        SELECT date_trunc(bucket, m.published_day)::DATE AS period, m.entity_id,
               count(*) AS articles
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        WHERE a.on_topic AND m.published_day >= CAST(since AS DATE)
        GROUP BY 1, 2
    )
    SELECT period, entity_id, articles, on_topic_articles,
           round(articles / on_topic_articles, 4) AS share
    FROM per_entity JOIN totals USING (period)
    ORDER BY period, share DESC, entity_id
    """,
)


# Migration 4: a per-day rollup kept current by every load, so one entity's daily series is a
# read of a few hundred rows instead of a scan of every mention.
ENTITY_DAILY = (
    """
    CREATE TABLE entity_daily (
        entity_id VARCHAR NOT NULL,
        day       DATE NOT NULL,
        mentions  BIGINT NOT NULL,
        articles  BIGINT NOT NULL,
        stories   BIGINT NOT NULL,
        PRIMARY KEY (entity_id, day)
    )
    """,
    """
    INSERT INTO entity_daily
    SELECT m.entity_id, m.published_day, sum(m.count), count(*),
           count(DISTINCT coalesce(a.story_id, a.article_id))
    FROM mentions AS m
    JOIN articles AS a USING (article_id)
    GROUP BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO entity_daily_series(entity, since) AS TABLE
    SELECT day, mentions, articles, stories
    FROM entity_daily
    WHERE entity_id = entity AND day >= CAST(since AS DATE)
    ORDER BY day
    """,
)
