"""Great Expectations suites on real drops: critical rejection, row quarantine, shrinking
snapshots, corrected re-deliveries, receipts, the check command and the SLA asset."""

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner
from files import drop, make_id, mark, write_csv, write_xlsx
from test_landing import HEADER_EN, REGISTER, ingest, receipt, register_rows

from mianshen_pipeline.cli import main
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle
from mianshen_pipeline.suites import build_suite, load_suite, suite_path

DEATHS = "civil_affairs/death_records"


def person_rows(count: int, start: int = 1) -> list[list]:
    rows = []
    for i in range(start, start + count):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=i)
        rows.append([make_id("310105", birth, i % 1000), f"居民{i}", "1" if i % 2 else "2",
                     birth.isoformat(), "310105", "310105001", f"H{i}", "户主", "愚园路"])
    return rows


@pytest.mark.parametrize("dataset", sorted(load_contracts()))
def test_suite_matches_contract(dataset):
    contract = load_contracts()[dataset]
    stored = json.loads(suite_path(contract).read_text(encoding="utf-8"))
    assert stored == build_suite(contract)
    suite = load_suite(suite_path(contract))
    assert {e.severity.value for e in suite.expectations} <= {"critical", "warning", "info"}


def test_mostly_invalid_ids_reject_whole_drop(con, home):
    rows = person_rows(6)
    for row in rows[:4]:
        row[0] = row[0][:15] + "000"
    write_csv(drop(home.landing, REGISTER, "shifted.csv"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    assert outcome.status == "rejected"
    assert "more than half of id_no (公民身份号码)" in outcome.error
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_quarantined) == (6, 0, 6)
    found = receipt(home, outcome)
    failed = {e["check"]: e for e in found["expectations"] if not e["success"]}
    assert failed["id_no_mostly_valid"]["severity"] == "critical"
    assert failed["id_no_mostly_valid"]["unexpected"] == 4
    assert {q["check"] for q in found["quarantined_rows"]} == {"drop_rejected"}


def test_plausibility_rows_quarantined(con, home):
    rows = person_rows(4)
    future = dt.date(2031, 5, 1)
    rows[1][0] = make_id("310105", future, 11)
    rows[1][3] = future.isoformat()                       # born after delivery: row 3
    rows[2][3] = "1940-01-05" if rows[2][3] != "1940-01-05" else "1940-01-06"  # row 4
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("accepted", 2, 2)
    by_row = {q["row"]: q for q in receipt(home, outcome)["quarantined_rows"]}
    assert by_row[3]["check"] == "birth_date_not_in_future"
    assert by_row[4]["check"] == "birth_date_matches_id"
    assert "differs from the birth date in id_no (公民身份号码)" in by_row[4]["reason"]


def test_death_before_birth_quarantined(con, home):
    person = make_id("310105", dt.date(1950, 6, 1), 21)
    header = ["id_no", "name", "date_of_death"]
    write_csv(drop(home.landing, DEATHS, "d.csv"), header,
              [[person, "张三", "1949-12-31"], [make_id("310105", dt.date(1930, 1, 1), 31),
                                               "李四", "2026-10-01"]])
    _, [outcome] = ingest(con, home, DEATHS)
    [finding] = receipt(home, outcome)["quarantined_rows"]
    assert (finding["row"], finding["check"]) == (2, "date_of_death_after_birth")
    assert outcome.rows_accepted == 1


def test_half_size_snapshot_held_then_released(con, home, monkeypatch):
    write_csv(drop(home.landing, REGISTER, "full.csv"), HEADER_EN, person_rows(10))
    contract, [first] = ingest(con, home)
    write_csv(drop(home.landing, REGISTER, "half.csv"), HEADER_EN, person_rows(5))
    _, [half] = ingest(con, home)
    assert half.status == "held"
    assert "50% fewer than the 10 of drop" in half.error
    assert receipt(home, half)["status"] == "held"

    from mianshen_pipeline.staging import merge

    assert merge(con, contract).rows == 10
    con.close()
    result = CliRunner().invoke(main, ["drops", "release", half.drop_id])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(home.warehouse)) as check:
        status = check.execute("SELECT status FROM landing.drops WHERE drop_id = ?",
                               [half.drop_id]).fetchone()[0]
    assert status == "accepted"


def test_corrected_redelivery_not_applied_twice(con, home):
    header = ["id_no", "name", "date_of_death"]
    rows = [[make_id("310105", dt.date(1930, 1, 1), 31), "李四", "2026-10-01"]]
    write_csv(drop(home.landing, DEATHS, "d.csv"), header, rows)
    contract, [first] = ingest(con, home, DEATHS)
    # The same records again, re-exported as GBK with another date format.
    again = [[rows[0][0], "李四", "20261001"]]
    write_csv(drop(home.landing, DEATHS, "d-gbk.csv"), ["公民身份号码", "姓名", "死亡日期"],
              again, "gb18030")
    _, [second] = ingest(con, home, DEATHS)
    assert second.drop_id != first.drop_id
    assert (second.status, second.rows_accepted, second.rows_unchanged) == ("accepted", 1, 1)
    assert "identical to data already received" in receipt(home, second)["warnings"][0]
    raw = con.execute(f"SELECT count(*) FROM raw.{contract.table}").fetchone()[0]
    assert raw == 1


def test_excel_numbers_in_xlsx(con, home):
    rows = register_rows() + person_rows(1)
    rows[0][0] = 310105195003010013  # an ID typed into Excel, which keeps 15 digits
    rows[1][0] = "3.10105E+17"       # the same shown in scientific notation, as text
    write_xlsx(drop(home.landing, REGISTER, "register.xlsx"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    reasons = {q["row"]: q["reason"] for q in receipt(home, outcome)["quarantined_rows"]}
    assert "ends in 000" in reasons[2]
    assert "scientific notation" in reasons[3]
    assert (outcome.rows_accepted, outcome.rows_quarantined) == (2, 2)


def test_check_command(home, tmp_path):
    good = write_csv(tmp_path / "good.csv", HEADER_EN, person_rows(3))
    result = CliRunner().invoke(main, ["check", str(good), "--dataset", REGISTER])
    assert result.exit_code == 0, result.output
    assert "ACCEPTED good.csv" in result.output
    assert "accepted 3, quarantined 0" in result.output

    rows = person_rows(3)
    rows[1][2] = "未知"
    partly = write_csv(tmp_path / "partly.csv", HEADER_EN, rows)
    result = CliRunner().invoke(main, ["check", str(partly), "--dataset", REGISTER])
    assert result.exit_code == 0
    assert "row 3: gender (性别) has an unknown code" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("id_no,name\n1,2\n", encoding="utf-8")
    mark(bad)
    result = CliRunner().invoke(main, ["check", str(bad), "--dataset", REGISTER])
    assert result.exit_code == 1
    assert "REJECTED bad.csv" in result.output
    assert "birth_date (出生日期)" in result.output


def test_sla_asset_and_checks(home):
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_EN, person_rows(3))
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(dt.date(2026, 12, 3), instance, defs)
    sla = summary.materialized["sla/data_requests"]
    assert sla["requests"] == 7
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = dict(con.execute(
            "SELECT request_id, status FROM sla.data_requests").fetchall())
        due = dict(con.execute(
            "SELECT request_id, due_on FROM sla.data_requests").fetchall())
        provisional = con.execute(
            "SELECT request_id FROM sla.data_requests WHERE due_on_provisional").fetchall()
    assert due["DR-2026-001"] == dt.date(2026, 3, 5)
    assert rows["DR-2026-001"] == "late"
    assert rows["DR-2026-002"] == "overdue"
    assert rows["DR-2026-007"] == "pending"
    assert provisional == [("DR-2026-007",)]
    assert (home.reports / "sla" / "data_requests.html").exists()
    warnings = {w.step for w in summary.warnings}
    assert "sla/data_requests:no_overdue_requests" in warnings
    assert "sla/data_requests:due_dates_final" in warnings
    assert "staging/civil_affairs/death_records:freshness" in warnings
    assert "staging/psb/household_register:freshness" not in warnings


def test_lost_leading_zeros_explained(con, home):
    dataset = "hrss/social_security_cards"
    write_csv(drop(home.landing, dataset, "cards.csv"),
              ["id_no", "bank_name", "account_no", "card_status"],
              [[make_id("310105", dt.date(1950, 1, 1), 11), "上海银行", "12345678901", "正常"],
               [make_id("310105", dt.date(1950, 1, 2), 13), "上海银行", "123456789012", "正常"]])
    _, [outcome] = ingest(con, home, dataset)
    [finding] = receipt(home, outcome)["quarantined_rows"]
    assert finding["row"] == 2
    assert "lost its leading zeros" in finding["reason"]
    assert finding["value"] == "*******8901"
