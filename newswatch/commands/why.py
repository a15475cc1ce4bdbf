"""``newswatch why URL_OR_ARTICLE_ID``: how one article was fetched, extracted, matched,
judged, grouped into a story, and which alerts it raised."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from newswatch.commands.common import add_db_argument, settings_from_args

if TYPE_CHECKING:
    from newswatch.warehouse.why_queries import Explanation

SNIPPET_CHARS = 160


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "why",
        help="explain one article: fetch, extraction, date, matches, verdict, story, alerts",
        description=(
            "Print everything stored about one article, named by its URL (as fetched, "
            "canonical or final) or its id (or an id prefix of 8+ characters)."
        ),
    )
    parser.add_argument("key", metavar="URL_OR_ARTICLE_ID")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_db_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from newswatch.warehouse.why_queries import explain

    settings = settings_from_args(args)
    found = explain(settings.db_path, args.key)
    if found is None:
        print(not_found_message(args.key), file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(found.__dict__, ensure_ascii=False, indent=2, default=str))
    else:
        print("\n".join(explanation_lines(found)))
    return 0


def not_found_message(key: str) -> str:
    from newswatch.warehouse.why_queries import MIN_ID_PREFIX

    text = f"newswatch: no stored article matches {key!r} (URL, canonical URL or article id)"
    key = key.strip()
    if "/" not in key and len(key) < MIN_ID_PREFIX:
        text += f"; an article id prefix needs {MIN_ID_PREFIX}+ characters ({len(key)} given)"
    return text


def explanation_lines(found: Explanation) -> list[str]:
    a = found.article
    lines = [f"{a['title'] or '(no title)'}", f"  article {a['article_id']}", ""]
    lines += ["FETCHED"]
    source = found.source or {}
    lines.append(f"  feed        {a['source_id']} ({a['outlet']})  {source.get('url', '?')}")
    if found.poll:
        p = found.poll
        lines.append(
            f"  feed poll   {p['status']} HTTP {_v(p['http_status'])} at {_t(p['fetched_at'])}, "
            f"{p['entry_count']} entries"
        )
    lines.append(f"  guid        {_v(a['guid'])}")
    lines.append(f"  link        {a['url']}")
    redirected = a["final_url"] and a["final_url"] != a["url"]
    lines.append(
        f"  page        HTTP {_v(a['http_status'])}"
        + (f", redirected to {a['final_url']}" if redirected else ", no redirect")
    )
    lines.append(f"  canonical   {a['canonical_url']}")
    lines.append(f"  first seen  {_t(a['first_seen_at'])} (run {_v(a['run_id'])})")
    lines += ["", "EXTRACTED"]
    reason = f" ({a['status_reason']})" if a["status_reason"] else ""
    lines.append(f"  status      {a['status']}{reason}, {a['text_chars']} characters")
    flag = f", FLAGGED {a['date_flag']}: not trusted" if a["date_flag"] else ""
    lines.append(
        f"  published   {_t(a['published_at'])}{_local(a)} by {_v(a['date_method'])} "
        f"(confidence {_v(a['date_confidence'])}{flag})"
    )
    lines.append(f"  language    {_v(a['language'])}   author {_v(a['author'])}")
    lines += ["", f"MATCHED ({len(found.mentions)} entities)"]
    for m in found.mentions:
        lines.append(
            f"  {m['entity_id']} ({_v(m['name'])}, {_v(m['side'])})  alias {m['alias']!r} "
            f"x{m['count']}"
        )
        lines.append(f"      “{_clip(m['snippet'])}”")
    lines += ["", "JUDGED"]
    verdict = "ON TOPIC" if a["on_topic"] else "off topic"
    lines.append(f"  {verdict}, relevance {a['relevance']:.3f}, rule {_v(a['relevance_rule'])}")
    if found.run:
        version = found.run.get("catalogue_version") or "?"
        lines.append(f"  catalogue   {version[:12]}  (flow run {_v(found.run['flow_run_id'])})")
    lines += ["", f"STORY {_v(a['story_id'])}: {len(found.story) + 1} article(s)"]
    outlets = sorted({a["outlet"], *(s["outlet"] for s in found.story)})
    lines.append(f"  outlets     {len(outlets)}: {', '.join(outlets)}")
    for s in found.story:
        lines.append(f"  also        {s['outlet']}: {_v(s['title'])}  {s['url']}")
    lines += ["", f"ALERTS ({len(found.alerts)})"]
    for alert in found.alerts:
        about = "this article" if alert["about_this_article"] else "its story"
        lines.append(
            f"  {alert['rule']} [{alert['kind']}] -> {alert['channel']}: {alert['status']} "
            f"(attempts {alert['attempts']}, sent {_t(alert['sent_at'])}; about {about})"
        )
    return lines


def _v(value: Any) -> str:
    return "-" if value is None else str(value)


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(a: dict[str, Any]) -> str:
    """The date in the offset its source declared: the page's own publication day."""
    offset = a.get("published_offset_minutes")
    if a["published_at"] is None or offset is None:
        return ""
    local = a["published_at"].astimezone(timezone(timedelta(minutes=offset)))
    return f" = {local:%Y-%m-%d %H:%M} local ({local:%z})"


def _clip(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"
