"""``newswatch alerts list|send|test``: inspect the outbox, deliver due alerts, try a rule."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from newswatch.commands.common import add_db_argument, settings_from_args
from newswatch.core.errors import ConfigError
from newswatch.core.settings import DEFAULT_ALERTS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "alerts", help="list, send or test alerts", description="The alerts outbox and rules."
    )
    actions = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="newest alerts in the outbox")
    listing.add_argument("--status", choices=("pending", "sent", "failed"), default=None)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    add_db_argument(listing)
    listing.set_defaults(handler=handle_list)

    send = actions.add_parser(
        "send",
        help="deliver every due alert now",
        description="Deliver the pending alerts whose retry time has come (with --now: every "
        "pending alert, ignoring its backoff). Each alert is marked sent as soon as its "
        "channel accepts it. A channel missing from the alerts file or whose URL variable "
        "is unset is reported and its alerts stay pending, not counted as attempts. Exit "
        "0 all sent, 1 a delivery failed (retried later), 75 another writer holds the "
        "warehouse, 78 a configuration problem.",
    )
    send.add_argument("--alerts", type=Path, default=DEFAULT_ALERTS, help="rules and channels")
    send.add_argument(
        "--now", action="store_true", help="retry pending alerts at once, ignoring their backoff"
    )
    add_db_argument(send)
    send.set_defaults(handler=handle_send)

    test = actions.add_parser(
        "test",
        help="send a test message to a rule's channels",
        description="Send one test message to each channel of RULE. A channel whose URL "
        "variable is unset is reported and skipped (optional channels are normal). Exit 0 "
        "every channel tried accepted it, 1 a delivery failed, 78 no channel of the rule "
        "could be tried (all unset) or no such rule.",
    )
    test.add_argument("rule", help="rule name from the alerts file")
    test.add_argument("--alerts", type=Path, default=DEFAULT_ALERTS, help="rules and channels")
    add_db_argument(test)
    test.set_defaults(handler=handle_test)


def handle_list(args: argparse.Namespace) -> int:
    from newswatch.warehouse.alert_queries import list_alerts

    settings = settings_from_args(args)
    rows = list_alerts(settings.db_path, status=args.status, limit=args.limit)
    if args.format == "json":
        for row in rows:
            print(json.dumps({**row.__dict__}, default=str, ensure_ascii=False))
        return 0
    from rich.table import Table

    from newswatch.commands.output import pipe_console

    table = Table("created", "rule", "channel", "status", "tries", "headline / last error")
    for row in rows:
        detail = row.headline or ""
        if row.status != "sent" and row.last_error:
            detail = f"{detail}\n[red]{row.last_error}[/red]"
        table.add_row(
            row.created_at.strftime("%Y-%m-%d %H:%M"),
            row.rule,
            row.channel,
            row.status,
            str(row.attempts),
            detail,
        )
    pipe_console().print(table)
    print(f"{len(rows)} alert(s)")
    return 0


SEND_LOCK_WAIT = 30.0  # seconds to wait for a run or watch tick that holds the warehouse


def handle_send(args: argparse.Namespace) -> int:
    from newswatch.extractors.alerts import load_alert_config
    from newswatch.flows.alerting import send_due_alerts
    from newswatch.warehouse.writer_lock import writer_lock

    settings = settings_from_args(args)
    config = load_alert_config(args.alerts)  # a bad file: ConfigError, nothing touched
    with writer_lock(settings.data_dir, "newswatch alerts send", wait=SEND_LOCK_WAIT):
        report = send_due_alerts(
            settings.db_path,
            config,
            datetime.now(UTC),
            data_dir=settings.data_dir,
            ignore_backoff=args.now,
        )
    print(
        f"{report.messages} message(s): {report.sent} alert(s) sent, {report.failed} failed"
        + (f", {report.misconfigured} left pending" if report.misconfigured else "")
    )
    for error in report.errors:
        print(f"  {error}")
    if report.failed:
        return 1
    if report.not_tried:
        return 75  # EX_TEMPFAIL: the warehouse was locked mid-way; send again later
    return 78 if report.misconfigured else 0  # EX_CONFIG: fix the channel, send again


def handle_test(args: argparse.Namespace) -> int:
    from newswatch.extractors.alerts import load_alert_config, render_alert
    from newswatch.extractors.delivery import Message, deliver
    from newswatch.flows.alerting import anchored

    settings = settings_from_args(args)
    config = load_alert_config(args.alerts)
    rule = next((r for r in config.rules if r.name == args.rule), None)
    if rule is None:
        names = ", ".join(r.name for r in config.rules)
        raise ConfigError(f"{args.alerts}: no rule named {args.rule!r} (rules: {names})")
    payload = {
        "rule": rule.name,
        "headline": "newswatch test alert",
        "outlet": "newswatch",
        "published": datetime.now(UTC).isoformat(),
        "entities": ["Shahed-136"],
        "snippet": "This is a test message; no article triggered it.",
        "link": "https://example.org/newswatch-test",
    }
    title, body = render_alert(payload)
    failures = tried = 0
    for name in rule.channels:
        channel = config.channel(name)
        url = channel.resolve(os.environ)
        if url is None:
            print(f"  {name}: skipped, ${channel.url_env} is not set")
            continue
        tried += 1
        secret = os.environ.get(channel.secret_env) if channel.secret_env else None
        message = Message(f"test-{datetime.now(UTC):%Y%m%dT%H%M%S}", title, body, payload)
        result = deliver(anchored(url, settings.data_dir), message, secret=secret)
        print(f"  {name}: {'sent' if result.ok else 'FAILED: ' + str(result.error)}")
        failures += not result.ok
    if failures:
        return 1
    if not tried:
        print(f"newswatch: no channel of rule {rule.name!r} is configured", file=sys.stderr)
        return 78  # EX_CONFIG: set a channel's variable
    return 0
