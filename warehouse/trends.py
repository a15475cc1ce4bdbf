"""Trend views and table macros, created by a migration and documented in docs/QUERIES.md.

Dates: ``published_day`` (:data:`PUBLISHED_DAY`) is the article's own publication day: the
day of ``published_at`` in the UTC offset its source declared (``published_offset_minutes``:
a page dated 23:30 in Tehran is counted on that Tehran day, not on the next UTC day), the
UTC day when no offset was declared, the UTC day of ``first_seen_at`` when the article has
no date. It is stored on articles and copied onto mentions at load time so series over
mentions need no join (migration 12 recomputed it on existing files). A "story" is
``coalesce(story_id, article_id)``.

Macro arguments: ``entity`` is an entity's id, name or alias, in any case (``entity_lookup``);
``bucket`` is 'day' | 'week' | 'month'; ``since``/``until`` are dates (a DATE or an ISO
string).

Series (``entity_series*``, ``outlet_series``, ``entity_daily_series``, ``coverage_share``)
are dense: one row per period (per outlet, language or entity seen in the window) from the
period holding ``since`` to the one holding ``until``, 0 where nothing was published. Each
period is counted whole: ``since`` is moved back to the first day of its period
(``trend_window``); ``until`` is the last day counted, inclusive, and defaults to ``''`` =
the newest article's day (not NULL: a DuckLake catalog cannot store a macro whose default
is NULL, measured with ducklake 1.5.5). An entity the warehouse does not know gives no
rows; a name that fits several entities equally raises an error naming them.

Names: ``entity_lookup(q)`` matches ``q`` case-insensitively (DuckDB ``lower``, which folds
Cyrillic and Latin alike; Persian and Arabic have no case) against, in this order of
preference: entity ids, entity names, then the catalogue aliases recorded on mentions
(``mentions.alias``: the alias, as the catalogue spells it, that matched in a stored article)
and ids that only mentions carry. The mentions are read only when no id or name fits, so a
lookup by id or name costs a read of ``entities`` alone. The catalogue's aliases that no
stored article has matched yet are not in the warehouse, so they are not found here.
"""

from __future__ import annotations

# The article's publication day in its own offset (both loaders and migration 12 use it).
PUBLISHED_DAY = (
    "CAST(timezone('UTC', coalesce(published_at, first_seen_at)) "
    "+ to_minutes(coalesce(published_offset_minutes, 0)) AS DATE)"
)

# The lookup, the period grid and the window every series shares.
NAME_OBJECTS = (
    """
    CREATE OR REPLACE MACRO entity_match(q) AS TABLE
    WITH wanted AS (SELECT lower(trim(CAST(q AS VARCHAR))) AS k),
    named AS (
        SELECT e.entity_id,
               CASE WHEN lower(e.entity_id) = w.k THEN 1 ELSE 2 END         AS rank,
               CASE WHEN lower(e.entity_id) = w.k THEN e.entity_id ELSE e.name END
                                                                           AS matched
        FROM entities AS e, wanted AS w
        WHERE lower(e.entity_id) = w.k OR lower(e.name) = w.k
    ),
    -- empty when an id or name fitted: the joins below then never read mentions
    unnamed AS (SELECT k FROM wanted WHERE NOT EXISTS (SELECT 1 FROM named)),
    recorded AS (
        SELECT m.entity_id, 3 AS rank, any_value(m.alias) AS matched
        FROM mentions AS m JOIN unnamed AS u ON lower(m.alias) = u.k
        GROUP BY 1
        UNION ALL
        SELECT m.entity_id, 1 AS rank, any_value(m.entity_id) AS matched
        FROM mentions AS m JOIN unnamed AS u ON lower(m.entity_id) = u.k
        GROUP BY 1
    ),
    best AS (
        SELECT entity_id, min(rank) AS rank, arg_min(matched, rank) AS matched
        FROM (SELECT * FROM named UNION ALL SELECT * FROM recorded)
        GROUP BY 1
    )
    -- the best rank only: a window, not a second reference to best (which would plan the
    -- entities and mentions scans again: each DuckLake scan is a dozen catalog reads)
    SELECT entity_id, rank, matched FROM best QUALIFY rank = min(rank) OVER ()
    """,
    """
    CREATE OR REPLACE MACRO entity_lookup(q) AS TABLE
    SELECT b.entity_id,
           coalesce(e.name, b.entity_id)                              AS name,
           CASE b.rank WHEN 1 THEN 'id' WHEN 2 THEN 'name' ELSE 'alias' END AS matched_as,
           b.matched
    FROM entity_match(q) AS b
    LEFT JOIN entities AS e USING (entity_id)
    ORDER BY b.entity_id
    """,
    """
    CREATE OR REPLACE MACRO entity_of(q) AS (
        SELECT CASE count(*)
                   WHEN 0 THEN CAST(NULL AS VARCHAR)
                   WHEN 1 THEN min(entity_id)
                   ELSE error('entity ' || any_value(matched) || ' is ambiguous: '
                              || string_agg(entity_id, ', ' ORDER BY entity_id))
               END
        FROM entity_match(q)  -- not entity_lookup: the names' join is not needed here
    )
    """,
    """
    CREATE OR REPLACE MACRO trend_window(bucket, since, until := '') AS TABLE
    SELECT CAST(date_trunc(bucket, CAST(since AS DATE)) AS DATE)            AS first_day,
           coalesce(CAST(nullif(CAST(until AS VARCHAR), '') AS DATE),
                    (SELECT max(published_day) FROM articles))              AS last_day,
           CASE bucket WHEN 'day' THEN INTERVAL 1 DAY
                       WHEN 'week' THEN INTERVAL 7 DAY
                       WHEN 'month' THEN INTERVAL 1 MONTH
                       ELSE error('bucket must be day, week or month, not '
                                  || CAST(bucket AS VARCHAR))
           END                                                              AS step
    """,
    """
    CREATE OR REPLACE MACRO trend_periods(bucket, since, until := '') AS TABLE
    SELECT CAST(unnest(generate_series(
               CAST(w.first_day AS TIMESTAMP),
               CAST(date_trunc(bucket, w.last_day) AS TIMESTAMP),
               w.step)) AS DATE) AS period
    FROM trend_window(bucket, since, until) AS w
    """,
)

TREND_OBJECTS = (
    *NAME_OBJECTS,
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
    CREATE OR REPLACE MACRO entity_series(entity, bucket, since, until := '') AS TABLE
    WITH target AS (SELECT entity_of(entity) AS entity_id),
    counts AS (
        SELECT date_trunc(bucket, m.published_day)::DATE               AS period,
               sum(m.count)                                            AS mentions,
               count(*)                                                AS articles,
               count(DISTINCT coalesce(a.story_id, a.article_id))      AS stories
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE m.entity_id = (SELECT entity_id FROM target)
          AND m.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1
    )
    SELECT p.period,
           CAST(coalesce(c.mentions, 0) AS BIGINT)  AS mentions,
           coalesce(c.articles, 0)                  AS articles,
           coalesce(c.stories, 0)                   AS stories
    FROM trend_periods(bucket, since, until) AS p
    SEMI JOIN target ON target.entity_id IS NOT NULL
    LEFT JOIN counts AS c USING (period)
    ORDER BY 1
    """,
    """
    CREATE OR REPLACE MACRO entity_series_by_outlet(entity, bucket, since, until := '') AS TABLE
    WITH counts AS (
        SELECT date_trunc(bucket, m.published_day)::DATE               AS period,
               a.outlet                                                AS outlet,
               sum(m.count)                                            AS mentions,
               count(*)                                                AS articles,
               count(DISTINCT coalesce(a.story_id, a.article_id))      AS stories
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE m.entity_id = entity_of(entity)
          AND m.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1, 2
    )
    SELECT p.period, o.outlet,
           CAST(coalesce(c.mentions, 0) AS BIGINT)  AS mentions,
           coalesce(c.articles, 0)                  AS articles,
           coalesce(c.stories, 0)                   AS stories
    FROM trend_periods(bucket, since, until) AS p
    CROSS JOIN (SELECT DISTINCT outlet FROM counts) AS o
    LEFT JOIN counts AS c ON c.period = p.period AND c.outlet = o.outlet
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO entity_series_by_language(entity, bucket, since, until := '')
    AS TABLE
    WITH counts AS (
        SELECT date_trunc(bucket, m.published_day)::DATE               AS period,
               coalesce(a.language, 'und')                             AS language,
               sum(m.count)                                            AS mentions,
               count(*)                                                AS articles,
               count(DISTINCT coalesce(a.story_id, a.article_id))      AS stories
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE m.entity_id = entity_of(entity)
          AND m.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1, 2
    )
    SELECT p.period, l.language,
           CAST(coalesce(c.mentions, 0) AS BIGINT)  AS mentions,
           coalesce(c.articles, 0)                  AS articles,
           coalesce(c.stories, 0)                   AS stories
    FROM trend_periods(bucket, since, until) AS p
    CROSS JOIN (SELECT DISTINCT language FROM counts) AS l
    LEFT JOIN counts AS c ON c.period = p.period AND c.language = l.language
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO outlet_series(bucket, since, until := '') AS TABLE
    WITH counts AS (
        SELECT date_trunc(bucket, a.published_day)::DATE                   AS period,
               a.outlet,
               count(*)                                                    AS articles,
               count(*) FILTER (WHERE a.on_topic)                          AS on_topic_articles,
               count(DISTINCT coalesce(a.story_id, a.article_id))          AS stories
        FROM articles AS a
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE a.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1, 2
    )
    SELECT p.period, o.outlet,
           coalesce(c.articles, 0)           AS articles,
           coalesce(c.on_topic_articles, 0)  AS on_topic_articles,
           coalesce(c.stories, 0)            AS stories
    FROM trend_periods(bucket, since, until) AS p
    CROSS JOIN (SELECT DISTINCT outlet FROM counts) AS o
    LEFT JOIN counts AS c ON c.period = p.period AND c.outlet = o.outlet
    ORDER BY 1, 2
    """,
    """
    CREATE OR REPLACE MACRO cooccurring_with(entity, since, until) AS TABLE
    WITH target AS (SELECT entity_of(entity) AS entity_id),
    hits AS (
        SELECT article_id FROM mentions
        WHERE entity_id = (SELECT entity_id FROM target)
          AND published_day >= CAST(since AS DATE) AND published_day < CAST(until AS DATE)
    )
    SELECT m.entity_id, any_value(e.name) AS name, count(*) AS articles
    FROM mentions AS m
    SEMI JOIN hits USING (article_id)
    LEFT JOIN entities AS e USING (entity_id)
    WHERE m.entity_id <> (SELECT entity_id FROM target)
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
    CREATE OR REPLACE MACRO coverage_share(bucket, since, until := '') AS TABLE
    WITH totals AS (
        SELECT date_trunc(bucket, a.published_day)::DATE AS period,
               count(*)                                  AS on_topic_articles
        FROM articles AS a
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE a.on_topic AND a.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1
    ),
    per_entity AS (
        SELECT date_trunc(bucket, m.published_day)::DATE AS period, m.entity_id,
               count(*) AS articles
        FROM mentions AS m
        JOIN articles AS a USING (article_id)
        CROSS JOIN trend_window(bucket, since, until) AS w
        WHERE a.on_topic AND m.published_day BETWEEN w.first_day AND w.last_day
        GROUP BY 1, 2
    )
    SELECT p.period, e.entity_id,
           coalesce(c.articles, 0)           AS articles,
           coalesce(t.on_topic_articles, 0)  AS on_topic_articles,
           -- NULL: no on-topic article in that period, so no share to take
           round(coalesce(c.articles, 0) / t.on_topic_articles, 4) AS share
    FROM trend_periods(bucket, since, until) AS p
    CROSS JOIN (SELECT DISTINCT entity_id FROM per_entity) AS e
    LEFT JOIN per_entity AS c ON c.period = p.period AND c.entity_id = e.entity_id
    LEFT JOIN totals AS t ON t.period = p.period
    ORDER BY p.period, share DESC NULLS LAST, e.entity_id
    """,
)


# The rollup's series (dense, like the others); migration 4 created it, 8 re-creates it.
ENTITY_DAILY_SERIES = """
    CREATE OR REPLACE MACRO entity_daily_series(entity, since, until := '') AS TABLE
    WITH target AS (SELECT entity_of(entity) AS entity_id),
    -- the window once, for the rows and the day grid (trend_periods('day', ...) would
    -- resolve it a second time: on a lake, another catalog read of articles' statistics)
    w AS (SELECT * FROM trend_window('day', since, until)),
    daily AS (
        SELECT r.day, r.mentions, r.articles, r.stories
        FROM entity_daily AS r
        CROSS JOIN w
        WHERE r.entity_id = (SELECT entity_id FROM target)
          AND r.day BETWEEN w.first_day AND w.last_day
    ),
    periods AS (
        SELECT CAST(unnest(generate_series(
                   CAST(w.first_day AS TIMESTAMP),
                   CAST(date_trunc('day', w.last_day) AS TIMESTAMP),
                   w.step)) AS DATE) AS period
        FROM w
    )
    SELECT p.period                          AS day,
           coalesce(r.mentions, 0)           AS mentions,
           coalesce(r.articles, 0)           AS articles,
           coalesce(r.stories, 0)            AS stories
    FROM periods AS p
    SEMI JOIN target ON target.entity_id IS NOT NULL
    LEFT JOIN daily AS r ON r.day = p.period
    ORDER BY 1
    """

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
    ENTITY_DAILY_SERIES,
)

# Migration 12: published_day in the article's own offset (was the UTC day), on articles,
# on mentions (its copy) and in the entity_daily rollup.
LOCAL_PUBLISHED_DAY = (
    f"UPDATE articles SET published_day = {PUBLISHED_DAY} "
    f"WHERE published_day IS DISTINCT FROM {PUBLISHED_DAY}",
    """
    UPDATE mentions SET published_day = a.published_day
    FROM articles AS a
    WHERE mentions.article_id = a.article_id
      AND mentions.published_day IS DISTINCT FROM a.published_day
    """,
    "DELETE FROM entity_daily",
    ENTITY_DAILY[1],
)
