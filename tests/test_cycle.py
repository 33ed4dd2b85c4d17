"""The nightly cycle through the real Dagster job, checked against the elderly allowance rule
computed independently here for every boundary of the rule."""

import csv
import datetime as dt
import hashlib
import json

import dagster as dg
import pytest
from files import drop, make_id, write_csv, write_jsonl, write_parquet, write_xlsx

from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle

REGISTER_ZH = ["公民身份号码", "姓名", "性别", "出生日期", "户籍地区划代码", "街道代码", "户号",
               "与户主关系", "住址"]
BRACKETS = [(65, 69, 75), (70, 79, 150), (80, 89, 180), (90, 99, 350), (100, 200, 600)]


def expected_age(birth: dt.date, day: dt.date) -> int:
    """Age reached on ``day``; a 29 February birthday is 28 February in common years."""
    birthday_day = birth.day
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    if (birth.month, birth.day) == (2, 29) and not leap:
        birthday_day = 28
    before_birthday = (day.month, day.day) < (birth.month, birthday_day)
    return day.year - birth.year - (1 if before_birthday else 0)


def expected_amount(person: dict, month_start: dt.date, month_end: dt.date) -> int | None:
    """The elderly allowance of one person for a month, or None when not eligible."""
    if person["hukou"] != "310105":
        return None
    death = person.get("death")
    if death is not None and death < month_start:
        return None
    age = expected_age(person["birth"], month_end)
    if age < 65:
        return None
    return next(amount for low, high, amount in BRACKETS if low <= age <= high)


def person(seq: int, birth: dt.date, **extra) -> dict:
    gender = "1" if seq % 2 else "2"
    hukou = extra.pop("hukou", "310105")
    return {"id": make_id(hukou, birth, seq), "name": f"测试{seq:03d}号", "birth": birth,
            "gender": gender, "hukou": hukou, "card": "normal", **extra}


PEOPLE = [
    person(1, dt.date(1961, 11, 30)),              # turns 65 on the last day of M
    person(3, dt.date(1961, 12, 1)),               # turns 65 in M+1
    person(5, dt.date(1961, 11, 1)),               # turns 65 on the first day of M
    person(7, dt.date(1956, 11, 30)),              # 70 on the last day: 150
    person(9, dt.date(1956, 12, 1)),               # still 69: 75
    person(11, dt.date(1946, 11, 30)),             # 80: 180
    person(13, dt.date(1946, 12, 1)),              # 79: 150
    person(15, dt.date(1936, 11, 30)),             # 90: 350
    person(17, dt.date(1936, 12, 1)),              # 89: 180
    person(19, dt.date(1926, 11, 30)),             # 100: 600
    person(21, dt.date(1926, 12, 1)),              # 99: 350
    person(23, dt.date(1956, 2, 29)),              # 70 on 28 Feb 2026: 150 in 2026-02
    person(25, dt.date(1960, 2, 29)),              # 65 on 28 Feb 2025
    person(27, dt.date(1940, 5, 5), death=dt.date(2026, 10, 31)),  # died before M
    person(29, dt.date(1940, 5, 6), death=dt.date(2026, 11, 1)),   # died on the first day
    person(31, dt.date(1940, 5, 7), death=dt.date(2026, 11, 20)),  # died during M
    person(33, dt.date(1944, 1, 1), hukou="310104"),               # other district
    person(35, dt.date(1944, 1, 2), card=None),                    # no card at all
    person(37, dt.date(1944, 1, 3), card="lost"),                  # card reported lost
    person(39, dt.date(1944, 1, 4), duplicate="exact"),            # row delivered twice
    person(41, dt.date(1944, 1, 5), duplicate="conflict"),         # two rows disagree
    person(43, dt.date(1944, 1, 6), id_defect="check_digit"),      # invalid ID
    person(45, dt.date(1944, 1, 7), id_form="fullwidth"),          # full-width digits
    person(47, dt.date(1944, 1, 8), id_form="old15"),              # 15-digit old ID
    person(49, dt.date(2001, 6, 1)),                               # young
]
CARD_STATUS = {"normal": "正常", "lost": "挂失"}


def register_cell_id(p: dict) -> str:
    if p.get("id_form") == "fullwidth":
        return p["id"].translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    if p.get("id_form") == "old15":
        return p["id"][:6] + p["id"][8:17]
    if p.get("id_defect") == "check_digit":
        return p["id"][:-1] + ("1" if p["id"][-1] != "1" else "2")
    return p["id"]


def write_world(home) -> None:
    """Write the six datasets the cycle needs, each in a realistic department form."""
    register = []
    for p in PEOPLE:
        row = [register_cell_id(p), p["name"], "男" if p["gender"] == "1" else "女",
               p["birth"].strftime("%Y年%-m月%-d日"), p["hukou"],
               "310105001" if p["hukou"] == "310105" else "", f"H{p['id'][-6:]}", "户主",
               "长宁区愚园路1号"]
        register.append(row)
        if p.get("duplicate") == "exact":
            register.append(row[:])
        if p.get("duplicate") == "conflict":
            register.append(row[:1] + [p["name"] + "甲"] + row[2:])
    write_csv(drop(home.landing, "psb/household_register", "hjrk_202611.csv"), REGISTER_ZH,
              register, "gb18030")

    deaths = [[p["id"], p["name"], p["death"].isoformat()] for p in PEOPLE if p.get("death")]
    write_csv(drop(home.landing, "civil_affairs/death_records", "deaths.csv"),
              ["id_no", "name", "date_of_death"], deaths)

    cards = [[p["id"], "中国工商银行", f"62220210{i:011d}", CARD_STATUS[p["card"]]]
             for i, p in enumerate(PEOPLE) if p["card"]]
    write_jsonl(drop(home.landing, "hrss/social_security_cards", "cards.jsonl"),
                ["id_no", "bank_name", "account_no", "card_status"], cards)

    a, b = PEOPLE[0]["id"], PEOPLE[1]["id"]
    write_xlsx(drop(home.landing, "civil_affairs/marriage_registrations", "marriages.xlsx"),
               ["登记证号", "登记类型", "登记日期", "男方身份证号", "女方身份证号"],
               [["J310105-1985-000001", "结婚", dt.datetime(1985, 5, 1), a, b]])
    write_csv(drop(home.landing, "health/birth_certificates", "births.csv"),
              ["出生医学证明编号", "婴儿身份证号", "婴儿姓名", "出生日期", "母亲身份证号",
               "父亲身份证号"],
              [["O310000001", PEOPLE[-1]["id"], PEOPLE[-1]["name"], "2001-06-01", b, a]],
              "utf-8-sig")
    write_parquet(drop(home.landing, "market/enterprise_register", "enterprises.parquet"),
                  ["uscc", "name", "size", "established_on", "street_code", "status",
                   "bank_name", "account_no"], [])


def elderly_problems(summary) -> list:
    """Problems of the elderly allowance's steps; other policies lack their datasets here."""
    return [p for p in summary.problems if "elderly_allowance" in p.step]


def paid_ids(month_start, month_end) -> dict[str, int]:
    """The payout lines the rule implies: eligible, valid, unambiguous, with a normal card."""
    lines = {}
    for p in PEOPLE:
        amount = expected_amount(p, month_start, month_end)
        if amount is None or p["card"] != "normal":
            continue
        if p.get("duplicate") == "conflict" or p.get("id_defect"):
            continue
        lines[p["id"]] = amount
    return lines


@pytest.fixture
def defs(home):
    return build_definitions(resources_from_env(home.root))


def read_payout(home, cycle):
    path = home.outbox / "finance" / "elderly_allowance" / cycle / "payout.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh)), path


@pytest.mark.parametrize(
    ("as_of", "cycle", "start", "end"),
    [
        (dt.date(2026, 11, 15), "2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
        (dt.date(2026, 2, 3), "2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2025, 2, 28), "2025-02", dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
        (dt.date(2025, 1, 31), "2025-01", dt.date(2025, 1, 1), dt.date(2025, 1, 31)),
    ],
)
def test_payout_matches_rule(home, defs, as_of, cycle, start, end):
    write_world(home)
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(as_of, instance, defs)
    assert elderly_problems(summary) == []
    assert summary.partition == cycle

    lines, path = read_payout(home, cycle)
    expected = paid_ids(start, end)
    assert {line["payee_id"]: line["amount"] for line in lines} == {
        pid: f"{amount}.00" for pid, amount in expected.items()
    }
    assert [line["line_no"] for line in lines] == [str(i) for i in range(1, len(lines) + 1)]
    assert [line["payee_id"] for line in lines] == sorted(expected)
    assert all(line["period"] == cycle and line["payee_type"] == "person" for line in lines)

    manifest = json.loads((path.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == len(expected)
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["amount_total"] == f"{sum(expected.values())}.00"
    assert manifest["run_id"] == summary.run_id


def test_boundaries_in_november(home, defs):
    write_world(home)
    with dg.DagsterInstance.ephemeral() as instance:
        run_cycle(dt.date(2026, 11, 15), instance, defs)
    lines, _ = read_payout(home, "2026-11")
    paid = {line["payee_id"]: line["amount"] for line in lines}
    by_seq = {int(p["name"][2:5]): p for p in PEOPLE}

    assert paid[by_seq[1]["id"]] == "75.00"
    assert by_seq[3]["id"] not in paid
    assert paid[by_seq[7]["id"]] == "150.00"
    assert paid[by_seq[9]["id"]] == "75.00"
    assert paid[by_seq[19]["id"]] == "600.00"
    assert paid[by_seq[21]["id"]] == "350.00"
    assert by_seq[27]["id"] not in paid
    assert paid[by_seq[29]["id"]] == "180.00"
    assert by_seq[33]["id"] not in paid
    assert by_seq[35]["id"] not in paid
    assert by_seq[41]["id"] not in paid
    assert paid[by_seq[45]["id"]] == "180.00"
    assert paid[by_seq[47]["id"]] == "180.00"
    assert list(paid).count(by_seq[39]["id"]) == 1


def test_push_messages(home, defs):
    write_world(home)
    with dg.DagsterInstance.ephemeral() as instance:
        run_cycle(dt.date(2026, 11, 15), instance, defs)
    path = home.outbox / "message_center" / "elderly_allowance" / "2026-11" / "push.jsonl"
    messages = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_recipient = {m["recipient_id"]: m for m in messages}
    no_card = next(p for p in PEOPLE if p["card"] is None)
    lost = next(p for p in PEOPLE if p["card"] == "lost")
    paid = paid_ids(dt.date(2026, 11, 1), dt.date(2026, 11, 30))

    assert by_recipient[no_card["id"]]["template"] == "account_reminder"
    assert by_recipient[lost["id"]]["template"] == "account_reminder"
    assert "激活" in by_recipient[no_card["id"]]["title"]
    notices = {m["recipient_id"] for m in messages if m["template"] == "payout_notice"}
    assert notices == set(paid)
    first = by_recipient[PEOPLE[0]["id"]]
    assert first["channel"] == "citizen_homepage"
    assert first["mode"] == "direct"
    assert "75.00元" in first["body"]
    assert len({m["message_id"] for m in messages}) == len(messages)


def test_rerun_writes_same_payout(home, defs):
    write_world(home)
    with dg.DagsterInstance.ephemeral() as instance:
        first = run_cycle(dt.date(2026, 11, 15), instance, defs)
        _, path = read_payout(home, "2026-11")
        before = path.read_bytes()
        second = run_cycle(dt.date(2026, 11, 28), instance, defs)
    assert elderly_problems(first) == []
    assert elderly_problems(second) == []
    assert path.read_bytes() == before
    landing = second.materialized["landing/psb/household_register"]
    assert landing["drops_processed"] == 0


def test_missing_dataset_fails_only_its_policy(home, defs):
    write_world(home)
    (home.landing / "hrss" / "social_security_cards" / "cards.jsonl").unlink()
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(dt.date(2026, 11, 15), instance, defs)
    assert not summary.success
    [problem] = elderly_problems(summary)
    assert problem.step == "cohort__elderly_allowance"
    assert "hrss/social_security_cards" in problem.message
    messages = {p.step: p.message for p in summary.problems}
    assert "hrss/unemployment_insurance" in messages["cohort__job_stabilization_refund"]
    assert summary.materialized["theme/person"]["dagster/row_count"] == len(PEOPLE) - 2


def test_no_personal_data_in_events(home, defs):
    write_world(home)
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(dt.date(2026, 11, 15), instance, defs)
        records = instance.all_logs(summary.run_id)
    text = "\n".join(dg.serialize_value(record) for record in records)
    assert "********" in text  # the masked previews were part of what was scanned
    for p in PEOPLE:
        assert p["id"] not in text
        assert p["name"] not in text
        assert json.dumps(p["name"])[1:-1] not in text
