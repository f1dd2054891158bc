"""The shipped Grafana dashboard and Prometheus alert rules parse, and every metric they use is one a
daemon exports (an in-process daemon with a bind up and a queue snapshot taken, scraped and parsed)."""

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from daemon.migrate import upgrade_all
from ledger import make_engine
from tests.daemon.metrics_world import build_daemon, get, join_smsc

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "etc" / "grafana" / "smscore-dashboard.json"
ALERTS = ROOT / "etc" / "prometheus" / "smscore-alerts.yml"
METRIC = re.compile(r"\bsmscore_[a-z0-9_]+\b")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'smscore.db'}")
    with engine.begin() as conn:
        upgrade_all(conn)
    yield engine
    engine.dispose()


def exported_names(tmp_path: Path, engine: Engine) -> set[str]:
    daemon = build_daemon(tmp_path, engine)
    join_smsc(daemon)
    assert daemon.metrics is not None and daemon.metrics.queue_snapshot is not None
    daemon.metrics.queue_snapshot.run_now()
    code, _, body = get(daemon, b"metrics")
    assert code == 200
    names = set()
    for family in text_string_to_metric_families(body.decode()):
        names.add(family.name)
        if family.type == "counter":  # a labelled counter shows no sample before its first event
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert panels
    expressions = [target["expr"] for panel in panels for target in panel["targets"]]
    assert all(expressions)
    return expressions


def alert_rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    for rule in rules:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
    return rules


def test_the_dashboard_and_the_alerts_use_only_metrics_the_daemon_exports(tmp_path, engine):
    exported = exported_names(tmp_path, engine)
    used = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    used_by_alerts = {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])}
    assert used and used_by_alerts
    assert sorted(used - exported) == []
    assert sorted(used_by_alerts - exported) == []


def test_the_alerts_cover_binds_queues_rollbacks_and_receipts():
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "SmscoreBindDown",
        "SmscoreInboxBacklog",
        "SmscoreRollbackRate",
        "SmscoreReceiptsFailing",
    } <= names
    exprs = " ".join(rule["expr"] for rule in alert_rules())
    for metric in (
        "smscore_bind_up",
        "smscore_queue_oldest_age_seconds",
        "smscore_rollbacks_total",
        "smscore_postings_total",
    ):
        assert metric in exprs


def test_the_dashboard_shows_binds_pdus_queues_tranproc_commands_and_receipts():
    used = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    assert {
        "smscore_bind_up",
        "smscore_bind_pdus_total",
        "smscore_queue_depth",
        "smscore_queue_oldest_age_seconds",
        "smscore_tranproc_batch_duration_seconds_bucket",
        "smscore_commands_total",
        "smscore_postings_total",
        "smscore_receipts_total",
        "smscore_fraud_holds_waiting",
        "smscore_fraud_hold_decisions_total",
    } <= used
