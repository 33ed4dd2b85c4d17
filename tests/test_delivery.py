"""Delivery controls through the real job: budget ceiling, disclosure list, QR-code list,
cohort changes and the pseudonym key."""

import csv
import datetime as dt
import hashlib
import hmac

import dagster as dg
import duckdb
from files import drop, make_id, write_csv
from test_cycle import PEOPLE, paid_ids, write_world

from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle

AS_OF = dt.date(2026, 11, 15)


def run(home, as_of=AS_OF):
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        return run_cycle(as_of, instance, defs)


def test_budget_ceiling_blocks_release(home, monkeypatch):
    card = load_catalogue()["elderly_allowance"]
    monkeypatch.setattr(card, "budget_ceiling", 1000.0)
    write_world(home)
    summary = run(home)
    problems = {p.step: p.message for p in summary.problems}
    check = problems["payout/elderly_allowance:within_budget"]
    assert "budget_ceiling=1000.00" in check
    total = sum(paid_ids(dt.date(2026, 11, 1), dt.date(2026, 11, 30)).values())
    assert f"over_budget_by={total - 1000}.00" in check
    assert not (home.outbox / "finance" / "elderly_allowance").exists()
    assert not (home.outbox / "message_center" / "elderly_allowance" / "2026-11").exists()


def test_disclosure_list_masked(home):
    write_world(home)
    run(home)
    path = home.outbox / "public" / "elderly_allowance" / "2026-11" / "disclosure.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    text = path.read_text(encoding="utf-8")
    for person in PEOPLE:
        assert person["id"] not in text
        assert person["name"] not in text
    first = next(r for r in rows if r["id_no"].endswith(PEOPLE[0]["id"][-4:]))
    assert first["name"] == "测****号"
    assert first["id_no"] == PEOPLE[0]["id"][:6] + "********" + PEOPLE[0]["id"][-4:]
    assert first["street"] == "华阳路街道"
    assert first["amount"] == "75.00"


def write_groups(home):
    """Add the disability and martyr datasets the QR-code policy reads."""
    holder = PEOPLE[-1]
    write_csv(drop(home.landing, "dpf/disability_certificates", "certificates.csv"),
              ["id_no", "certificate_no", "category", "grade", "valid_until"],
              [[holder["id"], holder["id"] + "43", "肢体", "四级", "2030-01-01"]])
    martyr = make_id("310105", dt.date(1980, 1, 1), 901)
    write_csv(drop(home.landing, "veterans/martyrs", "martyrs.csv"),
              ["martyr_id_no", "name", "died_on", "recognised_on"],
              [[martyr, "烈士", "2020-01-01", "2020-03-01"]])
    return holder


def test_qr_list_keyed_by_hmac(home, monkeypatch):
    monkeypatch.setenv("MIANSHEN_PSEUDONYM_KEY", "test-secret")
    write_world(home)
    holder = write_groups(home)
    run(home, dt.date(2026, 12, 1))
    path = home.outbox / "suishenma" / "2026-12-01" / "preferential_treatment.parquet"
    rows = duckdb.sql(f"SELECT * FROM '{path}'").fetchall()
    columns = [d[0] for d in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
    assert columns == ["subject_key", "policy_id", "group_codes", "valid_from", "valid_until"]
    aged = next(p for p in PEOPLE if p["birth"] == dt.date(1926, 11, 30))
    key = hmac.new(b"test-secret", aged["id"].encode(), hashlib.sha256).hexdigest()
    by_key = {row[0]: row for row in rows}
    assert by_key[key][2] == ["elderly"]
    assert by_key[key][3] == dt.date(2026, 12, 1)
    holder_key = hmac.new(b"test-secret", holder["id"].encode(), hashlib.sha256).hexdigest()
    assert by_key[holder_key][2] == ["disability"]
    nobody = next(p for p in PEOPLE if p["birth"] == dt.date(1961, 12, 1))
    assert hmac.new(b"test-secret", nobody["id"].encode(), hashlib.sha256).hexdigest() \
        not in by_key
    assert all(p["id"] not in path.read_bytes().decode("latin-1") for p in PEOPLE)


def test_production_refuses_without_key(home, monkeypatch):
    monkeypatch.setenv("MIANSHEN_ENV", "production")
    monkeypatch.delenv("MIANSHEN_PSEUDONYM_KEY", raising=False)
    write_world(home)
    summary = run(home)
    assert not summary.success
    assert summary.materialized == {}
    assert any("MIANSHEN_PSEUDONYM_KEY is not set" in p.message for p in summary.problems)


def test_cohort_changes_counted(home):
    write_world(home)
    first = run(home, dt.date(2026, 10, 15))
    second = run(home, dt.date(2026, 11, 15))
    october = first.materialized["cohort/elderly_allowance"]
    november = second.materialized["cohort/elderly_allowance"]
    # Two people turn 65 in November; the one who died on 31 October leaves.
    assert november["previous_cycle"] == "2026-10"
    assert november["new_entrants"] == 2
    assert november["leavers"] == 1
    assert november["continuing"] == october["eligible"] - 1


def test_reconciliation_reports_omissions_and_errors(home):
    write_world(home)
    run(home, dt.date(2026, 10, 15))
    run(home, dt.date(2026, 11, 15))
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        row = con.execute(
            "SELECT eligible, paid, not_yet_paid, omissions, unmatched_lines FROM "
            "reporting.reconciliation WHERE policy_id = 'elderly_allowance' AND "
            "cycle = '2026-11'").fetchone()
    november = paid_ids(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    eligible, paid, not_yet_paid, omissions, unmatched = row
    assert paid == len(november)
    assert not_yet_paid == eligible - paid
    assert omissions == 2  # no card and a lost card, eligible in October and November
    assert unmatched == 0

    # A death reported late: the November line was already issued and stays in the ledger.
    paid_person = next(p for p in PEOPLE if p["id"] in november and not p.get("death"))
    write_csv(drop(home.landing, "civil_affairs/death_records", "late.csv"),
              ["id_no", "date_of_death"], [[paid_person["id"], "2026-10-20"]])
    summary = run(home, dt.date(2026, 11, 20))
    problems = {p.step: p.message for p in summary.problems}
    assert "reporting/reconciliation:no_unmatched_payout_lines" in problems
    assert "'elderly_allowance 2026-11': 1" in problems[
        "reporting/reconciliation:no_unmatched_payout_lines"]
    report = home.reports / "evaluation" / "evaluation_2026-11-20.html"
    assert "老年综合津贴" in report.read_text(encoding="utf-8")
