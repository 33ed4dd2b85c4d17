"""The payout ledger through the real job: nothing is paid twice across re-runs, changed
data, a crash between ledger and file, and a backfill of an earlier cycle."""

import csv
import datetime as dt
import hashlib
import json

import dagster as dg
import duckdb
from files import drop, make_id, write_csv
from test_cycle import REGISTER_ZH, elderly_problems, paid_ids, write_world

import mianshen_pipeline.delivery as delivery
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle

NOVEMBER = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))


def run(home, as_of):
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        return run_cycle(as_of, instance, defs)


def payout(home, cycle):
    path = home.outbox / "finance" / "elderly_allowance" / cycle / "payout.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh)), path


def ledger(home, batch):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT idempotency_key, subject_id, line_no FROM delivery.payout_ledger "
            "WHERE batch = ? ORDER BY line_no", [batch]
        ).fetchall()


def assert_matches_manifest(path):
    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["rows"] == len(rows)
    assert manifest["amount_total"] == f"{sum(float(r['amount']) for r in rows):.2f}"


def test_changed_data_keeps_issued_lines(home):
    write_world(home)
    run(home, dt.date(2026, 11, 15))
    first, _ = payout(home, "2026-11")

    newcomer = make_id("310105", dt.date(1950, 5, 5), 601)
    rows = [[newcomer, "新来者", "男", "1950-05-05", "310105", "310105001", "H-NEW", "户主",
             "长宁区"]]
    old = home.archive / "psb" / "household_register"
    [archived] = list(old.glob("*/hjrk_202611.csv"))
    with archived.open(encoding="gb18030", newline="") as fh:
        kept = list(csv.reader(fh))[1:]
    write_csv(drop(home.landing, "psb/household_register", "hjrk_202611b.csv"), REGISTER_ZH,
              kept + rows, "gb18030")
    [cards] = list((home.archive / "hrss" / "social_security_cards").glob("*/cards.jsonl"))
    card = {"id_no": newcomer, "bank_name": "上海银行", "account_no": "6222000000099999",
            "card_status": "正常"}
    target = drop(home.landing, "hrss/social_security_cards", "cards2.jsonl")
    target.write_text(cards.read_text(encoding="utf-8")
                      + json.dumps(card, ensure_ascii=False) + "\n", encoding="utf-8")
    target.with_name("cards2.jsonl.ok").write_bytes(b"")
    second_run = run(home, dt.date(2026, 11, 20))
    assert elderly_problems(second_run) == []

    second, path = payout(home, "2026-11")
    assert second[: len(first)] == first
    assert [r["payee_id"] for r in second[len(first):]] == [newcomer]
    assert second[-1]["line_no"] == str(len(first) + 1)
    keys = [row[0] for row in ledger(home, "elderly_allowance/2026-11")]
    assert len(keys) == len(set(keys)) == len(second)
    assert_matches_manifest(path)


def test_crash_between_ledger_and_file(home, monkeypatch):
    write_world(home)
    real_replace = delivery.os.replace

    def crash_on_payout(source, target):
        if str(target).endswith("payout.csv"):
            raise OSError("disk full (injected)")
        return real_replace(source, target)

    monkeypatch.setattr(delivery.os, "replace", crash_on_payout)
    crashed = run(home, dt.date(2026, 11, 15))
    assert any(p.step == "payout__elderly_allowance" for p in crashed.problems)
    issued = ledger(home, "elderly_allowance/2026-11")
    assert len(issued) == len(paid_ids(*NOVEMBER))

    monkeypatch.setattr(delivery.os, "replace", real_replace)
    repaired = run(home, dt.date(2026, 11, 15))
    assert elderly_problems(repaired) == []
    rows, path = payout(home, "2026-11")
    assert ledger(home, "elderly_allowance/2026-11") == issued
    assert [r["idempotency_key"] for r in rows] == [key for key, _, _ in issued]
    assert_matches_manifest(path)


def test_backfill_reproduces_earlier_file(home):
    write_world(home)
    run(home, dt.date(2026, 10, 15))
    october, path = payout(home, "2026-10")
    before = path.read_bytes()
    run(home, dt.date(2026, 11, 15))
    run(home, dt.date(2026, 10, 31))
    assert path.read_bytes() == before
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT policy_id, subject_id, period FROM "
            "delivery.payout_ledger GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
    assert duplicates == 0
    assert len(october) == len(ledger(home, "elderly_allowance/2026-10"))


def test_failed_payment_retried_after_account_change(home, monkeypatch):
    from mianshen_pipeline import clock

    def received(day):
        moment = dt.datetime.combine(day, dt.time(9), clock.SHANGHAI)
        monkeypatch.setattr(clock, "now", lambda: moment)

    write_world(home)
    received(dt.date(2026, 11, 15))
    run(home, dt.date(2026, 11, 15))
    november, november_path = payout(home, "2026-11")
    failed, succeeded = november[0], november[1]

    received(dt.date(2026, 11, 20))
    write_csv(drop(home.landing, "finance/payment_results", "results.csv"),
              ["idempotency_key", "status", "reason"],
              [[failed["idempotency_key"], "失败", "账户已销户"],
               [succeeded["idempotency_key"], "成功", ""]])
    [cards] = list((home.archive / "hrss" / "social_security_cards").glob("*/cards.jsonl"))
    changed = []
    for line in cards.read_text(encoding="utf-8").splitlines():
        card = json.loads(line)
        if card["id_no"] in (failed["payee_id"], succeeded["payee_id"]):
            card["account_no"] = "6222888800000000" + card["id_no"][-3:]
        changed.append(json.dumps(card, ensure_ascii=False))
    target = drop(home.landing, "hrss/social_security_cards", "cards-new.jsonl")
    target.write_text("\n".join(changed) + "\n", encoding="utf-8")
    target.with_name(target.name + ".ok").write_bytes(b"")
    before = november_path.read_bytes()
    run(home, dt.date(2026, 11, 20))
    assert november_path.read_bytes() == before  # a retry goes to a later cycle's file

    received(dt.date(2026, 12, 2))
    run(home, dt.date(2026, 12, 2))
    december, december_path = payout(home, "2026-12")
    retries = [r for r in december if r["period"] == "2026-11"]
    assert [(r["idempotency_key"], r["account_no"]) for r in retries] == [
        (failed["idempotency_key"], "6222888800000000" + failed["payee_id"][-3:])
    ]
    assert_matches_manifest(december_path)
    again = december_path.read_bytes()
    run(home, dt.date(2026, 12, 3))
    assert december_path.read_bytes() == again
