"""Consecutive cycles on generated drops through the real jobs, with feedback drops between
them. After each run the ledger, the files and the reconciliation must agree."""

import csv
import datetime as dt
import hashlib
import json

import dagster as dg
import duckdb
import pytest
from files import drop, write_csv

from mianshen_pipeline import clock
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle
from mianshen_pipeline.sample import generate_world, write_drops

DIRECT = ("elderly_allowance", "severe_disability_nursing", "job_stabilization_refund")


@pytest.fixture
def received(monkeypatch):
    def set_to(day: dt.date) -> None:
        moment = dt.datetime.combine(day, dt.time(9), clock.SHANGHAI)
        monkeypatch.setattr(clock, "now", lambda: moment)
    return set_to


def run(home, as_of):
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        return run_cycle(as_of, instance, defs)


def assert_consistent(home):
    """Check the ledger, every payout file and every unpaid eligible subject."""
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT policy_id, subject_id, period, attempt FROM "
            "delivery.payout_ledger GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        assert duplicates == 0
        for policy in DIRECT:
            unaccounted = con.execute(
                f"""
                SELECT count(*) FROM cohort.{policy} AS c
                WHERE NOT EXISTS (SELECT 1 FROM delivery.payout_ledger AS l
                                  WHERE l.policy_id = ? AND l.period = c.cycle
                                    AND l.subject_id = c.subject_id)
                  AND (c.payee_id IN (SELECT id_no FROM staging.hrss__social_security_cards
                                      WHERE card_status = 'normal')
                       OR c.payee_id IN (SELECT uscc FROM theme.legal_entity
                                         WHERE account_no IS NOT NULL))
                  AND NOT EXISTS (SELECT 1 FROM staging.two_pages__objections AS o
                                  WHERE o.policy_id = ? AND o.cycle = c.cycle
                                    AND o.subject_id = c.subject_id AND o.resolved_at IS NULL)
                """, [policy, policy]).fetchone()[0]
            assert unaccounted == 0, policy
    for path in (home.outbox / "finance").glob("*/*/payout.csv"):
        manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert manifest["rows"] == len(rows), path
        assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), path


def test_consecutive_cycles(home, received):
    as_of = dt.date(2026, 10, 10)
    world = generate_world(persons=2500, seed=21, as_of=as_of)
    write_drops(world, home.landing, defect_share=0.0, seed=21)
    received(as_of)
    first = run(home, as_of)
    assert not [p for p in first.problems if "elderly" in p.step]
    assert_consistent(home)

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        excluded, held = [row[0] for row in con.execute(
            "SELECT subject_id FROM cohort.elderly_allowance WHERE cycle = '2026-10' "
            "ORDER BY subject_id LIMIT 2").fetchall()]
        refund = con.execute(
            "SELECT subject_id FROM cohort.job_stabilization_refund ORDER BY subject_id "
            "LIMIT 1").fetchone()[0]

    received(dt.date(2026, 10, 20))
    write_csv(drop(home.landing, "lead_units/corrections", "k.csv"),
              ["correction_id", "policy_id", "subject_id", "action", "reason", "approver",
               "source_document", "approved_on"],
              [["K1", "elderly_allowance", excluded, "排除", "重复享受", "王科长", "文号1",
                "2026-10-20"]])
    write_csv(drop(home.landing, "two_pages/objections", "o.csv"),
              ["objection_id", "policy_id", "cycle", "subject_id", "filed_at"],
              [["O1", "elderly_allowance", "2026-11", held, "2026-10-20"]])
    write_csv(drop(home.landing, "credit/dishonest_entities", "d.csv"),
              ["subject_type", "subject_id", "list_name", "listed_on"],
              [["法人", refund, "失信被执行人名单", "2026-10-15"]])
    received(dt.date(2026, 11, 12))
    second = run(home, dt.date(2026, 11, 12))
    assert not [p for p in second.problems if "elderly" in p.step]
    assert_consistent(home)

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        november = {row[0] for row in con.execute(
            "SELECT subject_id FROM delivery.payout_ledger WHERE batch = "
            "'elderly_allowance/2026-11'").fetchall()}
        refund_row = con.execute(
            "SELECT count(*) FROM cohort.job_stabilization_refund WHERE subject_id = ?",
            [refund]).fetchone()[0]
    assert excluded not in november
    assert held not in november
    # The refund for 2025 was issued in October, before the listing, so it stays in the
    # ledger while the cohort no longer contains the enterprise.
    assert refund_row == 0

    received(dt.date(2026, 11, 25))
    write_csv(drop(home.landing, "two_pages/objections", "o2.csv"),
              ["objection_id", "policy_id", "cycle", "subject_id", "filed_at", "resolved_at"],
              [["O1", "elderly_allowance", "2026-11", held, "2026-10-20", "2026-11-24"]])
    third = run(home, dt.date(2026, 11, 25))
    assert_consistent(home)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        paid_now = {row[0] for row in con.execute(
            "SELECT subject_id FROM delivery.payout_ledger WHERE batch = "
            "'elderly_allowance/2026-11'").fetchall()}
        unmatched = con.execute(
            "SELECT unmatched_lines FROM reporting.reconciliation WHERE policy_id = "
            "'job_stabilization_refund'").fetchone()[0]
    assert held in paid_now
    assert unmatched == 1
    assert "reporting/reconciliation:no_unmatched_payout_lines" in {
        p.step for p in third.problems}
