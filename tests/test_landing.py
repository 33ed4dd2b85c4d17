"""Drops through the real landing path: decoding, checks, quarantine, receipts, accounting."""

import datetime as dt
import hashlib
import json
import os

import duckdb
import pytest
from files import drop, make_id, mark, write_csv, write_jsonl, write_parquet, write_xlsx

from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.landing import (
    find_complete_files,
    find_unrouted,
    ingest_dataset,
    receive,
)
from mianshen_pipeline.staging import merge

REGISTER = "psb/household_register"
HEADER_ZH = ["公民身份号码", "姓名", "性别", "出生日期", "户籍地区划代码", "街道代码", "户号",
             "与户主关系", "住址"]
HEADER_EN = ["id_no", "name", "gender", "birth_date", "hukou_region", "street_code",
             "household_id", "relation_to_head", "address"]

A = make_id("310105", dt.date(1950, 3, 1), 11)
B = make_id("310105", dt.date(1961, 3, 15), 22)
C = make_id("310104", dt.date(1944, 2, 29), 31)


def register_rows(birth_formats=("1950-03-01", "19610315", "1944/2/29")) -> list[list]:
    return [
        [A, "张三", "男", birth_formats[0], "310105", "310105001", "H1", "户主", "愚园路1号"],
        [B, "李小四", "2", birth_formats[1], "310105", "310105002", "H2", "户主", "天山路2号"],
        [C, "欧阳明", "1", birth_formats[2], "310104", "", "H3", "户主", "徐汇区"],
    ]


def ingest(con, home, dataset=REGISTER):
    contract = load_contracts()[dataset]
    outcomes = ingest_dataset(con, home, contract, stable_seconds=0)
    return contract, outcomes


def receipt(home, outcome) -> dict:
    return json.loads(outcome.receipt.read_text(encoding="utf-8"))


def staged(con, contract) -> list[tuple]:
    merge(con, contract)
    return con.execute(
        f"SELECT id_no, name, gender, birth_date, hukou_region FROM staging.{contract.table} "
        "ORDER BY id_no"
    ).fetchall()


EXPECTED = sorted([
    (A, "张三", "1", dt.date(1950, 3, 1), "310105"),
    (B, "李小四", "2", dt.date(1961, 3, 15), "310105"),
    (C, "欧阳明", "1", dt.date(1944, 2, 29), "310104"),
])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_accepted(con, home, encoding):
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_ZH, register_rows(), encoding)
    contract, [outcome] = ingest(con, home)
    assert outcome.status == "accepted"
    assert receipt(home, outcome)["encoding"] == encoding
    assert staged(con, contract) == EXPECTED


def test_xlsx_with_date_cells_and_serials(con, home):
    rows = register_rows()
    rows[0][3] = dt.datetime(1950, 3, 1)
    rows[1][3] = 22355  # Excel serial number of 1961-03-15
    write_xlsx(drop(home.landing, REGISTER, "register.xlsx"), HEADER_ZH, rows)
    contract, [outcome] = ingest(con, home)
    assert (outcome.status, outcome.rows_accepted) == ("accepted", 3)
    assert staged(con, contract) == EXPECTED


def test_parquet_and_jsonl_with_english_headers(con, home):
    rows = register_rows(("1950年3月1日", "1961-03-15", "19440229"))
    write_parquet(drop(home.landing, REGISTER, "a.parquet"), HEADER_EN, rows)
    contract, [outcome] = ingest(con, home)
    assert outcome.rows_accepted == 3
    assert staged(con, contract) == EXPECTED

    rows[2][1] = "欧阳小明"
    write_jsonl(drop(home.landing, REGISTER, "b.jsonl"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    assert (outcome.status, outcome.rows_accepted, outcome.rows_unchanged) == ("accepted", 3, 2)
    renamed = (C, "欧阳小明", "1", dt.date(1944, 2, 29), "310104")
    assert staged(con, contract) == [renamed, *EXPECTED[1:]]


def test_defects_quarantined_with_reasons(con, home):
    rows = register_rows()
    rows.append(rows[0][:])                                      # exact copy: row 5
    rows.append(["3.10105E+17", "王五", "1", "1970-01-01", "310105", "", "H4", "户主", ""])
    rows.append([A[:15] + "000", "赵六", "1", "1970-01-01", "310105", "", "H4", "子", ""])
    rows.append([make_id("310105", dt.date(1980, 1, 1), 51), "钱七", "未知", "2023-02-30",
                 "31010", "", "H5", "户主", ""])                # row 8: three findings
    rows.append([make_id("310105", dt.date(1981, 1, 1), 61), "", "1", "1981-01-01",
                 "310105", "", "H6", "户主", ""])               # row 9: name missing
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_ZH, rows, "gb18030")
    contract, [outcome] = ingest(con, home)

    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_quarantined) == (8, 3, 5)
    found = receipt(home, outcome)
    by_row = {}
    for q in found["quarantined_rows"]:
        by_row.setdefault(q["row"], []).append(q["check"])
    assert by_row == {
        5: ["duplicate_row"],
        6: ["resident_id"],
        7: ["resident_id"],
        8: ["date", "code", "pattern"],
        9: ["required"],
    }
    reasons = {q["row"]: q["reason"] for q in found["quarantined_rows"]}
    assert "scientific notation" in reasons[6]
    assert "ends in 000" in reasons[7]
    assert reasons[9] == "name (姓名) is missing; fill it in"
    assert A not in json.dumps(found, ensure_ascii=False)

    quarantine = home.quarantine / "psb" / "household_register" / f"{outcome.drop_id}.parquet"
    rows_q = duckdb.sql(f"SELECT _row FROM '{quarantine}' ORDER BY _row").fetchall()
    assert [r[0] for r in rows_q] == [5, 6, 7, 8, 9]


def test_conflicting_duplicates_all_quarantined(con, home):
    rows = register_rows()
    other = rows[0][:]
    other[1] = "张叁"
    rows.append(other)
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    found = receipt(home, outcome)
    assert outcome.rows_quarantined == 2
    assert sorted(q["row"] for q in found["quarantined_rows"]) == [2, 5]
    assert {q["check"] for q in found["quarantined_rows"]} == {"duplicate_key"}


def test_truncated_csv_keeps_good_lines(con, home):
    path = drop(home.landing, REGISTER, "register.csv")
    write_csv(path, HEADER_EN, register_rows())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 25])
    _, [outcome] = ingest(con, home)
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_quarantined) == (3, 2, 1)
    [finding] = receipt(home, outcome)["quarantined_rows"]
    assert finding["row"] == 4
    assert finding["check"] == "malformed"


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("utf16.csv", "id_no\n1\n".encode("utf-16"), "UTF-16"),
        ("old.xls", b"\xd0\xcf\x11\xe0 old workbook", "save it as .xlsx"),
        ("cut.xlsx", None, "cannot be read as xlsx"),
        ("cut.parquet", None, "cannot be read as parquet"),
        ("binary.csv", bytes(range(128, 256)) * 8, "neither UTF-8 nor GBK"),
    ],
)
def test_unreadable_files_rejected_whole(con, home, tmp_path, name, payload, message):
    path = drop(home.landing, REGISTER, name)
    if payload is None:
        source = tmp_path / name
        writer = write_xlsx if name.endswith("xlsx") else write_parquet
        writer(source, HEADER_EN, register_rows())
        whole = source.read_bytes()
        payload = whole[: len(whole) // 2]
    path.write_bytes(payload)
    mark(path)
    _, [outcome] = ingest(con, home)
    assert outcome.status == "rejected"
    assert message in outcome.error
    assert name in outcome.error
    archived = home.archive / "psb" / "household_register" / outcome.drop_id / name
    assert archived.read_bytes() == payload
    assert receipt(home, outcome)["status"] == "rejected"


def test_missing_required_column_rejected(con, home):
    header = [h for h in HEADER_ZH if h != "出生日期"]
    rows = [r[:3] + r[4:] for r in register_rows()]
    write_csv(drop(home.landing, REGISTER, "register.csv"), header, rows)
    _, [outcome] = ingest(con, home)
    assert outcome.status == "rejected"
    assert "birth_date (出生日期)" in outcome.error


def test_redelivery_not_applied_twice(con, home):
    path = drop(home.landing, REGISTER, "register.csv")
    write_csv(path, HEADER_EN, register_rows())
    payload = path.read_bytes()
    contract, [first] = ingest(con, home)
    again = drop(home.landing, REGISTER, "register-again.csv")
    again.write_bytes(payload)
    mark(again)
    _, [second] = ingest(con, home)
    assert second.status == "redelivered"
    assert second.drop_id == first.drop_id
    raw = con.execute(f"SELECT count(*) FROM raw.{contract.table}").fetchone()[0]
    assert raw == 3
    deliveries = receipt(home, first)["deliveries"]
    assert [d["file_name"] for d in deliveries] == ["register.csv", "register-again.csv"]
    assert not list((home.landing / REGISTER).iterdir())


def test_received_drop_processed_after_crash(con, home):
    contract = load_contracts()[REGISTER]
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_EN, register_rows())
    [complete] = find_complete_files(home.landing / REGISTER, 0)
    drop_id, new = receive(con, home, contract, complete, run_id="crashed")
    assert new
    status = con.execute("SELECT status FROM landing.drops WHERE drop_id = ?",
                         [drop_id]).fetchone()[0]
    assert status == "received"
    _, [outcome] = ingest(con, home)
    assert (outcome.drop_id, outcome.status, outcome.rows_accepted) == (drop_id, "accepted", 3)


def test_completeness_rules(home):
    folder = home.landing / REGISTER
    folder.mkdir(parents=True)
    fresh = folder / "fresh.csv"
    fresh.write_text("id_no\n", encoding="utf-8")
    marked = mark(folder / "marked.csv")
    marked.write_text("id_no\n", encoding="utf-8")
    with_manifest = folder / "manifest.csv"
    with_manifest.write_text("id_no\n", encoding="utf-8")
    digest = hashlib.sha256(with_manifest.read_bytes()).hexdigest()
    (folder / "manifest.csv.manifest.json").write_text(json.dumps({"sha256": digest}))
    (folder / "partial.csv.part").write_text("x")
    (folder / ".hidden.csv").write_text("x")
    names = sorted(f.path.name for f in find_complete_files(folder, stable_seconds=3600))
    assert names == ["manifest.csv", "marked.csv"]
    names = sorted(f.path.name for f in find_complete_files(folder, stable_seconds=0))
    assert names == ["fresh.csv", "manifest.csv", "marked.csv"]


def test_delta_applies_deletes(con, home):
    dataset = "civil_affairs/death_records"
    header = ["id_no", "name", "date_of_death", "record_action"]
    write_csv(drop(home.landing, dataset, "d1.csv"), header,
              [[A, "张三", "2026-10-03", "新增"], [B, "李小四", "2026-10-04", "新增"]])
    contract, _ = ingest(con, home, dataset)
    write_csv(drop(home.landing, dataset, "d2.csv"), header,
              [[B, "李小四", "", "删除"], [A, "张三", "2026-10-02", "更正"]])
    ingest(con, home, dataset)
    merge(con, contract)
    rows = con.execute(
        f"SELECT id_no, date_of_death FROM staging.{contract.table}"
    ).fetchall()
    assert rows == [(A, dt.date(2026, 10, 2))]


def test_gbk_file_name_received(con, home):
    folder = home.landing / REGISTER
    folder.mkdir(parents=True)
    name = os.fsdecode("测试".encode("gb18030") + b".csv")
    path = write_csv(folder / name, HEADER_EN, register_rows())
    assert path.exists()
    _, [outcome] = ingest(con, home)
    assert (outcome.status, outcome.file_name) == ("accepted", "测试.csv")
    archived = home.archive / "psb" / "household_register" / outcome.drop_id / "测试.csv"
    assert archived.exists()


def test_manifest_mismatch_rejected(con, home):
    path = drop(home.landing, REGISTER, "register.csv")
    write_csv(path, HEADER_EN, register_rows())
    path.with_name("register.csv.ok").unlink()
    path.with_name("register.csv.manifest.json").write_text(json.dumps({"sha256": "0" * 64}))
    _, [outcome] = ingest(con, home)
    assert outcome.status == "rejected"
    assert "its manifest gives sha256 000" in outcome.error


def test_headerless_file_masked(con, home):
    rows = register_rows()
    path = drop(home.landing, REGISTER, "no-header.csv")
    write_csv(path, [str(v) for v in rows[0]], rows[1:])
    _, [outcome] = ingest(con, home)
    assert outcome.status == "rejected"
    assert "The first line looks like data" in outcome.error
    text = json.dumps(receipt(home, outcome), ensure_ascii=False)
    assert A not in text
    assert "张三" not in text
    assert (outcome.rows_read, outcome.rows_quarantined) == (2, 2)


def test_line_break_in_name_quarantined(con, home):
    rows = register_rows()
    rows[0][1] = "张\n三"
    write_csv(drop(home.landing, REGISTER, "register.csv"), HEADER_EN, rows)
    _, [outcome] = ingest(con, home)
    [finding] = receipt(home, outcome)["quarantined_rows"]
    assert finding["check"] == "control_character"
    assert outcome.rows_accepted == 2


def test_symlink_not_ingested(con, home, tmp_path):
    outside = write_csv(tmp_path / "outside.csv", HEADER_EN, register_rows())
    folder = home.landing / REGISTER
    folder.mkdir(parents=True)
    (folder / "link.csv").symlink_to(outside)
    (folder / "link.csv.ok").write_bytes(b"")
    _, outcomes = ingest(con, home)
    assert outcomes == []
    contracts = list(load_contracts().values())
    assert find_unrouted(home.landing, contracts) == ["psb/household_register/link.csv"]
