"""Small frozen records passed between stages. Times are timezone-aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Source:
    """One feed to poll (a line of seeds/sources.toml)."""

    id: str
    name: str  # outlet name shown to people
    url: str
    language: str | None = None
    kind: str = "rss"  # rss | atom | gnews | gdelt | sitemap
    enabled: bool = True
    sitemap: str | None = None  # sitemap or sitemap index URL (newswatch backfill)


@dataclass(frozen=True)
class FeedState:
    """What we remember about a feed between polls (stored in the warehouse)."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None  # ok | not_modified | error
    last_http_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None
    items_seen: int = 0
    # retirement (extractors/feed_state.py): set on 410 Gone or after 404s for N days; a
    # retired feed is not polled until `newswatch sources reset` clears both columns
    retired_at: datetime | None = None
    gone_since: datetime | None = None  # first poll of the current run of 404/410 answers


@dataclass(frozen=True)
class FeedEntry:
    """One normalised feed item."""

    source_id: str
    guid: str
    link: str  # absolute
    title: str
    summary: str  # sanitised plain text
    published_at: datetime  # parsed; missing -> fetch time (see date_flag)
    date_flag: str = "feed"  # feed | missing | future_clamped
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source_url: str | None = None  # RSS <source url="…">: the publisher (Google News items)
    # the UTC offset the feed's date string declared, in minutes (None: none, or not a feed date)
    published_offset_minutes: int | None = None


@dataclass(frozen=True)
class FeedPoll:
    """The outcome of polling one feed once."""

    source_id: str
    url: str
    status: str  # ok | not_modified | error
    fetched_at: datetime
    http_status: int | None = None
    error: str | None = None
    error_class: str | None = None  # transient | permanent | None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    bozo: bool = False
    bozo_error: str | None = None
    discovered_feed_url: str | None = None
    entries: tuple[FeedEntry, ...] = ()
    elapsed_ms: float = 0.0
    retry_after_s: float | None = None  # the server's Retry-After, when it sent one
    notes: tuple[str, ...] = ()  # e.g. "truncated: newest 500 of 100000 entries kept"
    # pace hints for the poll cadence (extractors/cadence.py), in seconds
    declared_interval_s: float | None = None  # RSS <ttl> / sy:updatePeriod+updateFrequency
    cache_lifetime_s: float | None = None  # HTTP Cache-Control max-age / Expires


@dataclass(frozen=True)
class PageFetch:
    """The outcome of fetching one article page."""

    url: str
    fetched_at: datetime
    status: str  # ok | error
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    body: bytes | None = None
    error: str | None = None
    error_class: str | None = None
    redirects: tuple[str, ...] = ()
    elapsed_ms: float = 0.0
    retry_after_s: float | None = None  # the server's Retry-After, when it sent one


@dataclass(frozen=True)
class ExtractedArticle:
    """What extraction made of one page (or of the feed entry when the page failed)."""

    url: str  # the URL we fetched (feed link)
    canonical_url: str
    title: str | None
    text: str
    status: str  # ok | short | empty | paywall | not_html | fetch_failed | error
    status_reason: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    date_method: str | None = None  # feed | page_meta | htmldate | url | fallback
    language: str | None = None
    site_name: str | None = None
    description: str | None = None
    content_hash: str | None = None  # sha1 of normalised text
    method: str | None = None  # which extractor produced the text
    # the UTC offset the date's source declared (minutes; None: none): local day of the page
    published_offset_minutes: int | None = None


@dataclass(frozen=True)
class Mention:
    """One entity found in one article."""

    entity_id: str
    count: int
    first_offset: int
    snippet: str
    alias: str  # the alias text that matched first


@dataclass(frozen=True)
class MatchResult:
    mentions: tuple[Mention, ...]
    relevance: float
    on_topic: bool
    rule: str | None = None  # the rule that decided on_topic


@dataclass(frozen=True)
class ArticleRecord:
    """One article row as the warehouse stores it."""

    article_id: str  # sha1 of canonical_url
    source_id: str
    outlet: str
    url: str
    canonical_url: str
    title: str | None
    text: str
    summary: str
    author: str | None
    published_at: datetime | None
    date_method: str | None
    first_seen_at: datetime
    language: str | None
    status: str
    status_reason: str | None
    content_hash: str | None
    story_id: str | None
    relevance: float
    on_topic: bool
    guid: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    story_signature: tuple[int, ...] = ()  # MinHash values for near-duplicate grouping
    date_confidence: str | None = None  # high | medium | low (extractors/date_trust.py)
    date_flag: str | None = None  # future | too_old | before_outlet | None (plausible)
    relevance_rule: str | None = None  # the catalogue rule that decided on_topic
    body_hash: str | None = None  # content identity (extractors/identity.py)
    published_offset_minutes: int | None = None  # the date's declared UTC offset (ExtractedArticle)


@dataclass(frozen=True)
class ArticleAliasRecord:
    """Another URL of a stored article (table ``article_aliases``): never a second row."""

    url: str  # the normalised feed link of the copy (the key)
    article_id: str  # the stored article it is a copy of
    source_id: str
    canonical_url: str | None  # the copy's own canonical URL
    final_url: str | None
    reason: str  # same_url | same_body | near_duplicate (extractors/identity.py)
    similarity: float
    first_seen_at: datetime


@dataclass(frozen=True)
class PageFailureRecord:
    """A page that could not be stored yet (table ``page_failures``), fetched again later.

    Keeps the feed entry's fields, so the page is retried even once its feed item is gone.
    """

    url: str  # normalised link (the key)
    source_id: str
    guid: str
    link: str  # the feed's link as given (what is fetched)
    title: str
    summary: str
    published_at: datetime
    date_flag: str
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    http_status: int | None
    error: str
    error_class: str | None  # transient | permanent | soft_404 | empty
    attempts: int
    first_failed_at: datetime
    last_attempt_at: datetime
    next_attempt_at: datetime | None  # None once given up
    status: str  # pending | gave_up (the warehouse also has resolved)
    final_url: str | None = None

    @classmethod
    def from_entry(cls, entry: FeedEntry, **fields: Any) -> PageFailureRecord:
        """The failure of ``entry``'s page (``fields``: the failure's own fields, by name); it
        carries the entry so it can be fetched again."""
        kept = {name: getattr(entry, name) for name in _KEPT_ENTRY_FIELDS}
        return cls(**kept, **fields)

    def entry(self) -> FeedEntry:
        """The feed entry to fetch again (sequences staged as lists come back as tuples)."""
        kept = {name: getattr(self, name) for name in _KEPT_ENTRY_FIELDS}
        return FeedEntry(**{**kept, "authors": tuple(self.authors), "tags": tuple(self.tags)})


# The entry fields a page failure keeps (``source_url`` is not: a retried Google News item
# takes its outlet from its decoded link, extractors/gnews.py).
_KEPT_ENTRY_FIELDS = tuple(
    name
    for name in FeedEntry.__dataclass_fields__
    if name in PageFailureRecord.__dataclass_fields__
)


@dataclass(frozen=True)
class MentionRecord:
    article_id: str
    entity_id: str
    count: int
    first_offset: int
    snippet: str
    alias: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    flow_run_id: str | None = None
    feeds_polled: int = 0
    feeds_failed: int = 0
    feeds_unchanged: int = 0
    new_articles: int = 0
    on_topic_articles: int = 0
    mentions: int = 0
    errors: tuple[str, ...] = ()
    catalogue_version: str | None = None
    timings: tuple[tuple[str, float], ...] = ()  # (stage, seconds), e.g. ("fetch", 12.3)
    settings_json: str | None = None  # the settings that shape results, as JSON
    package_versions: str | None = None  # JSON {package: version} of the key libraries


@dataclass(frozen=True)
class AlertRecord:
    """One alert to deliver on one channel; unique on (rule, story_id, channel)."""

    alert_id: str  # sha1 of rule|story_id|channel: also the idempotency key sent to receivers
    rule: str
    kind: str  # new_story | first_seen | spike | emerging_term | feed_health
    story_id: str  # the story, or the entity/term/feed the alert is about
    channel: str  # channel name from the alerts file (never the secret URL itself)
    delivery: str  # immediate | digest
    created_at: datetime
    article_id: str | None = None
    payload_json: str = "{}"  # headline, outlet, date, entities, snippet, link


@dataclass(frozen=True)
class EntityRecord:
    """One catalogue entity as the warehouse stores it (table ``entities``)."""

    id: str
    name: str
    type: str | None = None
    side: str | None = None


@dataclass(frozen=True)
class EmergingTermRecord:
    """One candidate new name seen in one run's on-topic articles (table ``emerging_terms``)."""

    term: str
    run_id: str
    count: int
    outlets: int
    example: str | None
    first_seen_at: datetime
    outlet_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class IngestBatch:
    """Everything one run loads, in one transaction."""

    run: RunRecord
    articles: tuple[ArticleRecord, ...] = ()
    mentions: tuple[MentionRecord, ...] = ()
    feed_polls: tuple[FeedPoll, ...] = field(default=())
    feed_states: tuple[FeedState, ...] = ()
    sources: tuple[Source, ...] = ()
    alerts: tuple[
        AlertRecord, ...
    ] = ()  # inserted in the load's transaction, DO NOTHING on conflict
    # the catalogue the run matched with (upserted, stamped with run.catalogue_version);
    # any objects with id, name, type and side will do, e.g. newswatch.extractors.entities.Entity
    entities: tuple[EntityRecord, ...] = ()
    emerging_terms: tuple[EmergingTermRecord, ...] = ()  # candidate new names of this run
    aliases: tuple[ArticleAliasRecord, ...] = ()  # new URLs of stored articles
    page_failures: tuple[PageFailureRecord, ...] = ()  # error pages, fetched again later
