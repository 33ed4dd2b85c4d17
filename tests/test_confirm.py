"""One-click confirmation and objections through the real job and the landing path."""

import csv
import datetime as dt
import json

import dagster as dg
import pytest
from files import drop, make_id, write_csv, write_jsonl
from test_cycle import PEOPLE, write_world

import mianshen_pipeline.landing as landing
from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.explain import explain
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle
from mianshen_pipeline.warehouse import connect

SHANGHAI = landing.SHANGHAI
MOTHER = make_id("310105", dt.date(1995, 3, 3), 2)
CHILDREN = [make_id("310105", dt.date(2025, m, 1), 11 + 2 * m) for m in (1, 2, 3)]
STRANGER = make_id("310105", dt.date(2025, 4, 1), 21)
CONFIRM_HEADER = ["policy_id", "cycle", "subject_id", "decision", "decided_at"]


@pytest.fixture
def clock(monkeypatch):
    """Set the time at which the landing zone receives drops."""
    def set_to(day: dt.date) -> None:
        moment = dt.datetime.combine(day, dt.time(9), SHANGHAI)
        monkeypatch.setattr(landing, "_now", lambda: moment)
    return set_to


def run(home, as_of):
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        return run_cycle(as_of, instance, defs)


def write_family(home):
    register = [[MOTHER, "母亲", "女", "1995-03-03", "310105", "310105001", "F1", "户主", "x"]]
    register += [[c, f"孩子{i}", "男", f"2025-0{i + 1}-01", "310105", "310105001", "F1", "子",
                  "x"] for i, c in enumerate(CHILDREN)]
    register += [[STRANGER, "旁人", "男", "2025-04-01", "310105", "310105001", "F2", "户主",
                  "x"]]
    write_csv(drop(home.landing, "psb/household_register", "family.csv"),
              ["id_no", "name", "gender", "birth_date", "hukou_region", "street_code",
               "household_id", "relation_to_head", "address"], register)
    write_csv(drop(home.landing, "health/birth_certificates", "births.csv"),
              ["certificate_no", "child_id_no", "birth_date", "mother_id_no"],
              [[f"B{i}", c, f"2025-0{i + 1}-01", MOTHER] for i, c in enumerate(CHILDREN)])
    write_jsonl(drop(home.landing, "hrss/social_security_cards", "cards.jsonl"),
                ["id_no", "bank_name", "account_no", "card_status"],
                [[MOTHER, "上海银行", "6222000000000123", "正常"]])
    write_csv(drop(home.landing, "civil_affairs/death_records", "deaths.csv"),
              ["id_no", "date_of_death"], [])


def quarantined(home, dataset):
    folder = home.receipts / dataset.split("/")[0]
    found = {}
    for path in folder.glob("*.json"):
        receipt = json.loads(path.read_text(encoding="utf-8"))
        if receipt["dataset"] == dataset.split("/")[1]:
            found[receipt["file_name"]] = receipt
    return found


def test_confirmation_paid_next_cycle(home, clock):
    write_family(home)
    clock(dt.date(2026, 10, 20))
    run(home, dt.date(2026, 10, 20))
    pushed = (home.outbox / "message_center" / "childcare_subsidy" / "2026-10" /
              "push.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(m)["template"] for m in pushed} == {"confirm_request"}
    assert len(pushed) == 3

    clock(dt.date(2026, 10, 28))
    write_csv(drop(home.landing, "two_pages/confirmations", "c1.csv"), CONFIRM_HEADER, [
        ["childcare_subsidy", "2026-10", CHILDREN[0], "确认", "2026-10-25"],
        ["childcare_subsidy", "2026-10", CHILDREN[1], "放弃", "2026-10-26"],
        ["childcare_subsidy", "2026-10", STRANGER, "确认", "2026-10-26"],
        ["childcare_subsidy", "2026-10", CHILDREN[2], "确认", "2026-10-19"],
    ])
    run(home, dt.date(2026, 10, 28))
    clock(dt.date(2026, 11, 26))
    write_csv(drop(home.landing, "two_pages/confirmations", "c2.csv"), CONFIRM_HEADER, [
        ["childcare_subsidy", "2026-10", CHILDREN[2], "确认", "2026-11-25"],
    ])
    clock(dt.date(2026, 11, 26))
    summary = run(home, dt.date(2026, 11, 26))
    assert not [p for p in summary.problems if "childcare" in p.step]

    receipts = quarantined(home, "two_pages/confirmations")
    stranger, early = receipts["c1.csv"]["quarantined_rows"]
    assert stranger["check"] == "not_requested"
    assert early["check"] == "before_request"
    assert "before the request of 2026-10-20" in early["reason"]
    assert STRANGER not in json.dumps(receipts, ensure_ascii=False)
    [late] = receipts["c2.csv"]["quarantined_rows"]
    assert late["check"] == "after_deadline"
    assert "after the deadline 2026-11-19" in late["reason"]

    path = home.outbox / "finance" / "childcare_subsidy" / "2026-11" / "payout.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert [(r["payee_id"], r["period"], r["amount"]) for r in lines] == [
        (MOTHER, "2026-10", "300.00")
    ]
    before = path.read_bytes()
    run(home, dt.date(2026, 11, 27))
    assert path.read_bytes() == before
    october = (home.outbox / "message_center" / "childcare_subsidy" / "2026-10" /
               "push.jsonl").read_text(encoding="utf-8")
    assert CHILDREN[0] not in october  # decided subjects are not asked again
    assert CHILDREN[1] not in october
    run(home, dt.date(2026, 12, 3))
    december = home.outbox / "finance" / "childcare_subsidy" / "2026-12" / "payout.csv"
    assert december.read_text(encoding="utf-8").count("\n") == 1  # header only


def test_objection_holds_payment(home, clock):
    write_world(home)
    subject = PEOPLE[0]["id"]
    header = ["objection_id", "policy_id", "cycle", "subject_id", "kind", "filed_at",
              "resolved_at"]
    write_csv(drop(home.landing, "two_pages/objections", "o1.csv"), header,
              [["OBJ-1", "elderly_allowance", "2026-11", subject, "amount", "2026-11-10", ""]])
    clock(dt.date(2026, 11, 15))
    run(home, dt.date(2026, 11, 15))
    path = home.outbox / "finance" / "elderly_allowance" / "2026-11" / "payout.csv"
    assert subject not in path.read_text(encoding="utf-8")
    with connect(home.warehouse) as con:
        held = explain(con, load_catalogue()["elderly_allowance"], "2026-11", subject,
                       "310105")
    assert held.eligible
    assert held.holds == ["held by objection OBJ-1 filed 2026-11-10"]

    write_csv(drop(home.landing, "two_pages/objections", "o2.csv"), header,
              [["OBJ-1", "elderly_allowance", "2026-11", subject, "amount", "2026-11-10",
                "2026-11-18"]])
    clock(dt.date(2026, 11, 18))
    run(home, dt.date(2026, 11, 18))
    with path.open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert lines[-1]["payee_id"] == subject
