"""Cost of marking each alert sent in its own transaction (item 10), on a real DuckDB file.

python bench/alerts/per_message_commit.py [N]  -> N pending alerts sent to a file channel
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from newswatch.extractors.alerts import load_alert_config
from newswatch.flows.alerting import send_due_alerts
from newswatch.warehouse.outbox import DeliveryAttempt, record_attempts
from tests.outbox_fixtures import alerts_file, pending_alerts, warehouse_with_alerts


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db = warehouse_with_alerts(data, pending_alerts(count))
        config = load_alert_config(alerts_file(data / "alerts.toml"))
        started = time.perf_counter()
        report = send_due_alerts(db, config, datetime.now(UTC), data_dir=data)
        total = time.perf_counter() - started
        assert report.sent == count, report
        ids = [f"x-{i}" for i in range(count)]
        started = time.perf_counter()
        for alert_id in ids:  # the write alone: open, one UPDATE, commit, close
            record_attempts(db, [DeliveryAttempt(alert_id, True)], datetime.now(UTC))
        per_write = (time.perf_counter() - started) / count
    print(
        f"{count} alerts, one message each: {total:.2f} s total "
        f"({total / count * 1000:.1f} ms per alert incl. delivery), "
        f"{per_write * 1000:.1f} ms per per-message write"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
