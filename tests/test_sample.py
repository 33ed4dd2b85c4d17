"""Tests of the sample world and the department drops written from it, on real files."""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.geography import DISTRICT_CODE, STREETS
from mianshen_pipeline.identifiers import check_credit_code, check_resident_id
from mianshen_pipeline.sample import (
    DEFECTS_FILE,
    ID_DEFECT_KINDS,
    UNKNOWN_CODE_VALUE,
    SampleWorld,
    age_on,
    generate_world,
    write_dataset,
    write_drops,
)

AS_OF = datetime.date(2025, 6, 15)
PSB = "psb/household_register"
DEATHS = "civil_affairs/death_records"
MARRIAGES = "civil_affairs/marriage_registrations"
BIRTHS = "health/birth_certificates"
CARDS = "hrss/social_security_cards"
ENTERPRISES = "market/enterprise_register"
ADDRESSES = "planning/standard_addresses"
DISABILITY = "dpf/disability_certificates"
INSURANCE = "hrss/unemployment_insurance"
EMPLOYMENT = "hrss/employment_records"
GRADUATES = "education/graduates"
DISHONESTY = "credit/dishonest_entities"
MARTYRS = "veterans/martyrs"
CSV_ENCODINGS = {PSB: "gb18030", DEATHS: "utf-8", BIRTHS: "utf-8-sig", ADDRESSES: "utf-8",
                 INSURANCE: "gb18030", GRADUATES: "utf-8"}
WORLD_FIELDS = {DISABILITY: "disability_certificates", INSURANCE: "unemployment_insurance",
                EMPLOYMENT: "employment_records", GRADUATES: "graduates",
                DISHONESTY: "dishonest_entities", MARTYRS: "martyrs"}


@pytest.fixture(scope="module")
def world():
    return generate_world(persons=20000, seed=7, as_of=AS_OF)


@pytest.fixture(scope="module")
def drops(world, tmp_path_factory):
    root = tmp_path_factory.mktemp("drops")
    paths = write_drops(world, root / "landing", defect_share=0.01, seed=7)
    defects = json.loads((root / DEFECTS_FILE).read_text(encoding="utf-8"))
    return paths, defects


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv(path: Path, encoding: str) -> list[list[str]]:
    """Return all lines of a CSV file, header first, so that index + 1 is the row number."""
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))


def header(dataset: str, name: str) -> str:
    return load_contracts()[dataset].column(name).aliases[0]


def defects_of(defects: list[dict], dataset: str) -> list[dict]:
    return [d for d in defects if d["dataset"] == dataset]


# --- Determinism ----------------------------------------------------------------------------


def test_world_same_seed_equal():
    first = generate_world(persons=2000, seed=3, as_of=AS_OF)
    second = generate_world(persons=2000, seed=3, as_of=AS_OF)
    assert first == second


def test_world_other_seed_differs():
    first = generate_world(persons=2000, seed=3, as_of=AS_OF)
    second = generate_world(persons=2000, seed=4, as_of=AS_OF)
    assert first.persons != second.persons


def test_drops_same_seed_identical_bytes(tmp_path):
    world = generate_world(persons=3000, seed=11, as_of=AS_OF)
    first = write_drops(world, tmp_path / "a" / "landing", seed=5)
    second = write_drops(world, tmp_path / "b" / "landing", seed=5)
    assert first.keys() == second.keys()
    for key in first:
        assert sha256(first[key]) == sha256(second[key]), key
    assert sha256(tmp_path / "a" / DEFECTS_FILE) == sha256(tmp_path / "b" / DEFECTS_FILE)


def test_drops_other_seed_differs(tmp_path):
    world = generate_world(persons=3000, seed=11, as_of=AS_OF)
    first = write_drops(world, tmp_path / "a" / "landing", seed=5)
    second = write_drops(world, tmp_path / "b" / "landing", seed=6)
    assert sha256(first[PSB]) != sha256(second[PSB])


def test_as_of_default_today_shanghai():
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    world = generate_world(persons=50, seed=1)
    assert world.as_of == datetime.datetime.now(shanghai).date()


# --- The world ---------------------------------------------------------------------------------


def test_world_person_count_exact(world):
    assert len(world.persons) == 20000


def test_world_person_columns(world):
    columns = [c.name for c in load_contracts()[PSB].columns]
    for person in world.persons[:100]:
        assert list(person) == columns


def test_person_ids_valid(world):
    invalid = [p["id_no"] for p in world.persons if not ric.is_valid(p["id_no"])]
    assert invalid == []


def test_person_ids_unique(world):
    ids = [p["id_no"] for p in world.persons]
    assert len(set(ids)) == len(ids)


def test_person_id_encodes_birth_and_gender(world):
    for person in world.persons:
        number = person["id_no"]
        assert ric.get_birth_date(number) == person["birth_date"], number
        assert int(number[16]) % 2 == (1 if person["gender"] == "1" else 0), number


def test_other_record_ids_valid(world):
    numbers = [d["id_no"] for d in world.deaths]
    numbers += [m[k] for m in world.marriages for k in ("party_a_id", "party_b_id")]
    numbers += [b[k] for b in world.births for k in ("child_id_no", "mother_id_no")]
    numbers += [b["father_id_no"] for b in world.births if b["father_id_no"]]
    numbers += [c["id_no"] for c in world.cards]
    assert [n for n in numbers if not ric.is_valid(n)] == []


def test_enterprise_credit_codes_valid(world):
    codes = [e["uscc"] for e in world.enterprises]
    assert [c for c in codes if not uscc.is_valid(c)] == []
    assert all(c.startswith("91" + DISTRICT_CODE) for c in codes)
    assert len(set(codes)) == len(codes)


def test_enterprise_count_and_sizes(world):
    sizes = Counter(e["size"] for e in world.enterprises)
    assert len(world.enterprises) == 1000
    assert set(sizes) <= {"micro", "small", "medium", "large"}
    assert sizes["micro"] + sizes["small"] > 0.8 * len(world.enterprises)


def test_age_share_65_plus(world):
    elderly = sum(age_on(p["birth_date"], AS_OF) >= 65 for p in world.persons)
    assert 0.15 <= elderly / len(world.persons) <= 0.25


def test_ages_include_children_and_centenarians(world):
    ages = [age_on(p["birth_date"], AS_OF) for p in world.persons]
    assert sum(a < 6 for a in ages) > 0.02 * len(ages)
    assert 1 <= sum(a >= 100 for a in ages) <= 30


def test_turning_65_every_month(world):
    months = Counter((p["birth_date"].year + 65, p["birth_date"].month) for p in world.persons)
    for shift in range(-12, 13):
        index = AS_OF.year * 12 + AS_OF.month - 1 + shift
        assert months[(index // 12, index % 12 + 1)] >= 2, (index // 12, index % 12 + 1)


def test_leap_day_births_present(world):
    leap_days = [p for p in world.persons
                 if (p["birth_date"].month, p["birth_date"].day) == (2, 29)]
    assert len(leap_days) >= 10


def test_hukou_share_changning(world):
    local = [p for p in world.persons if p["hukou_region"] == DISTRICT_CODE]
    assert 0.85 <= len(local) / len(world.persons) <= 0.95
    assert {p["street_code"] for p in local} == set(STREETS)


def test_households_sizes_and_heads(world):
    households: dict[str, list[dict]] = {}
    for person in world.persons:
        households.setdefault(person["household_id"], []).append(person)
    sizes = Counter(len(members) for members in households.values())
    assert set(sizes) <= {1, 2, 3, 4, 5}
    for members in households.values():
        relations = [m["relation_to_head"] for m in members]
        assert relations.count("户主") == 1, relations


def test_deaths_rate_and_window(world):
    assert len(world.deaths) == pytest.approx(0.016 * len(world.persons), rel=0.05)
    for death in world.deaths:
        assert AS_OF - datetime.timedelta(days=730) <= death["date_of_death"] < AS_OF


def test_deaths_mostly_elderly(world):
    births = {p["id_no"]: p["birth_date"] for p in world.persons}
    martyrs = {m["martyr_id_no"] for m in world.martyrs}
    natural = [d for d in world.deaths if d["id_no"] not in martyrs]
    elderly = sum(age_on(births[d["id_no"]], d["date_of_death"]) >= 65 for d in natural)
    assert elderly > 0.8 * len(natural)


def test_dead_stay_in_register(world):
    registered = {p["id_no"] for p in world.persons}
    assert all(d["id_no"] in registered for d in world.deaths)


def test_marriage_parties_and_ages(world):
    persons = {p["id_no"]: p for p in world.persons}
    for record in world.marriages:
        husband, wife = persons[record["party_a_id"]], persons[record["party_b_id"]]
        assert husband["gender"] == "1"
        assert wife["gender"] == "2"
        assert age_on(husband["birth_date"], record["registered_on"]) >= 22
        assert age_on(wife["birth_date"], record["registered_on"]) >= 20
        assert record["registered_on"] <= AS_OF


def test_divorces_follow_marriage(world):
    weddings = {(m["party_a_id"], m["party_b_id"]): m for m in world.marriages
                if m["kind"] == "marriage"}
    divorces = [m for m in world.marriages if m["kind"] == "divorce"]
    assert divorces
    for divorce in divorces:
        wedding = weddings[(divorce["party_a_id"], divorce["party_b_id"])]
        assert divorce["registered_on"] > wedding["registered_on"]
        assert divorce["registration_no"] != wedding["registration_no"]


def test_registration_numbers_format(world):
    numbers = [m["registration_no"] for m in world.marriages]
    assert len(set(numbers)) == len(numbers)
    for record in world.marriages:
        letter = "J" if record["kind"] == "marriage" else "L"
        prefix = f"{letter}{DISTRICT_CODE}-{record['registered_on'].year}-"
        assert record["registration_no"].startswith(prefix)
        assert len(record["registration_no"]) == len(prefix) + 6


def test_births_children_under_six(world):
    persons = {p["id_no"]: p for p in world.persons}
    assert world.births
    for birth in world.births:
        child = persons[birth["child_id_no"]]
        assert birth["birth_date"] == child["birth_date"]
        assert birth["child_name"] == child["name"]
        assert age_on(child["birth_date"], AS_OF) < 6
        assert len(birth["certificate_no"]) == 10
        assert birth["certificate_no"][1:].isdigit()


def test_births_mother_required_father_optional(world):
    assert all(b["mother_id_no"] for b in world.births)
    missing = sum(b["father_id_no"] is None for b in world.births)
    assert 0 < missing < 0.2 * len(world.births)


def test_cards_share_and_numbers(world):
    adults = sum(age_on(p["birth_date"], AS_OF) >= 18 for p in world.persons)
    assert len(world.cards) == pytest.approx(0.95 * adults, rel=0.02)
    for card in world.cards:
        assert len(card["account_no"]) == 19
        assert luhn.is_valid(card["account_no"])


def test_cards_status_canonical(world):
    statuses = Counter(c["card_status"] for c in world.cards)
    assert set(statuses) <= {"normal", "lost", "cancelled", "inactive", "frozen"}
    assert statuses["normal"] > 0.85 * len(world.cards)


def test_addresses_unique_and_streets(world):
    ids = [a["address_id"] for a in world.addresses]
    texts = [a["address"] for a in world.addresses]
    assert len(set(ids)) == len(ids)
    assert len(set(texts)) == len(texts)
    assert all(i.startswith("CN" + DISTRICT_CODE) for i in ids)
    assert {a["street_code"] for a in world.addresses} == set(STREETS)


def test_person_addresses_standard(world):
    standard = {a["address"] for a in world.addresses}
    assert all(p["address"] in standard for p in world.persons)


def test_generate_world_rejects_zero():
    with pytest.raises(ValueError, match="at least 1"):
        generate_world(persons=0)


# --- Drop files ----------------------------------------------------------------------------------


def test_drops_paths_and_markers(drops):
    paths, _ = drops
    # Confirmations, objections, corrections and payment results come back from the two
    # pages, the lead units and finance, not from the departments that share data.
    returned = ("two_pages/", "lead_units/", "finance/")
    departments = {k for k in load_contracts() if not k.startswith(returned)}
    assert set(paths) == departments
    for key, path in paths.items():
        department, dataset = key.split("/")
        assert path.parent.parent.name == department
        assert path.parent.name == dataset
        marker = path.with_name(path.name + ".ok")
        assert marker.exists()
        assert marker.read_bytes() == b""
        assert marker.stat().st_mtime_ns >= path.stat().st_mtime_ns


def test_drops_defect_file_beside_landing(drops):
    paths, defects = drops
    landing = paths[PSB].parents[2]
    assert (landing.parent / DEFECTS_FILE).exists()
    assert {d["dataset"] for d in defects} == set(paths)


def test_psb_file_gb18030_not_utf8(drops):
    data = drops[0][PSB].read_bytes()
    assert data.decode("gb18030").startswith(header(PSB, "id_no"))
    assert data.decode("gbk") == data.decode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_psb_file_mixes_forms(drops):
    lines = read_csv(drops[0][PSB], "gb18030")
    columns = lines[0]
    ids = [line[columns.index(header(PSB, "id_no"))] for line in lines[1:]]
    dates = [line[columns.index(header(PSB, "birth_date"))] for line in lines[1:]]
    genders = Counter(line[columns.index(header(PSB, "gender"))] for line in lines[1:])
    assert any(len(i) == 15 for i in ids)
    assert any(i.endswith("x") for i in ids)
    assert any(" " in i for i in ids)
    assert any("０" <= ch <= "９" for i in ids for ch in i)
    assert any("年" in d for d in dates)
    assert any("/" in d for d in dates)
    assert any(len(d) == 8 and d.isdigit() for d in dates)
    assert genders["男"] > 0
    assert genders["1"] > genders["男"]


def test_psb_id_failures_match_defects(drops):
    paths, defects = drops
    lines = read_csv(paths[PSB], "gb18030")
    column = lines[0].index(header(PSB, "id_no"))
    failing = {number for number, line in enumerate(lines, start=1)
               if number > 1 and not check_resident_id(line[column]).ok}
    tagged = {d["row"] for d in defects_of(defects, PSB) if d["column"] == "id_no"}
    assert failing == tagged
    assert {d["kind"] for d in defects_of(defects, PSB) if d["column"] == "id_no"} <= set(
        ID_DEFECT_KINDS)


def test_psb_defect_count_share(drops, world):
    psb_defects = defects_of(drops[1], PSB)
    assert len(psb_defects) == pytest.approx(0.01 * len(world.persons), abs=2)
    assert {d["kind"] for d in psb_defects} == {
        "check_digit", "excel_scientific", "excel_zeros", "missing_required",
        "impossible_date", "duplicate_row", "unknown_code"}


def test_csv_defects_visible_in_rows(drops):
    paths, defects = drops
    for key, encoding in CSV_ENCODINGS.items():
        lines = read_csv(paths[key], encoding)
        contract = load_contracts()[key]
        headers = lines[0]
        for defect in defects_of(defects, key):
            line = lines[defect["row"] - 1]
            if defect["kind"] == "duplicate_row":
                assert line == lines[defect["duplicate_of"] - 1], defect
                continue
            cell = line[headers.index(_label(contract, defect["column"], headers))]
            if defect["kind"] == "missing_required":
                assert cell == "", defect
            elif defect["kind"] == "impossible_date":
                assert cell.endswith(("-02-30", "0230", "/2/30", "2月30日")), defect
            elif defect["kind"] == "unknown_code":
                assert cell == UNKNOWN_CODE_VALUE, defect
            elif defect["kind"] == "excel_scientific":
                assert "E+" in cell, defect
            elif defect["kind"] == "excel_zeros":
                assert cell.endswith("000"), defect


def _label(contract, name: str, headers: list[str]) -> str:
    column = contract.column(name)
    return name if name in headers else column.aliases[0]


def test_csv_row_counts_include_duplicates(drops, world):
    paths, defects = drops
    sources = {PSB: world.persons, DEATHS: world.deaths, BIRTHS: world.births,
               ADDRESSES: world.addresses, INSURANCE: world.unemployment_insurance,
               GRADUATES: world.graduates}
    for key, rows in sources.items():
        lines = read_csv(paths[key], CSV_ENCODINGS[key])
        duplicates = sum(d["kind"] == "duplicate_row" for d in defects_of(defects, key))
        assert len(lines) == 1 + len(rows) + duplicates, key


def test_deaths_file_english_utf8(drops):
    lines = read_csv(drops[0][DEATHS], "utf-8")
    assert lines[0] == ["id_no", "name", "date_of_death"]
    assert not drops[0][DEATHS].read_bytes().startswith(codecs.BOM_UTF8)


def test_births_file_starts_with_bom(drops):
    data = drops[0][BIRTHS].read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    assert data.decode("utf-8-sig").startswith(header(BIRTHS, "certificate_no"))


def test_marriages_xlsx_date_cells(drops, world):
    paths, defects = drops
    sheet = openpyxl.load_workbook(paths[MARRIAGES]).active
    rows = list(sheet.iter_rows())
    headers = [cell.value for cell in rows[0]]
    assert headers == [header(MARRIAGES, c) for c in
                       ("registration_no", "kind", "registered_on", "party_a_id", "party_b_id")]
    bad_dates = {d["row"] for d in defects_of(defects, MARRIAGES) if d["kind"] == "impossible_date"}
    date_cells = [row[2] for number, row in enumerate(rows[1:], start=2) if number not in bad_dates]
    assert all(cell.is_date for cell in date_cells if cell.value is not None)
    kinds = Counter(row[1].value for row in rows[1:])
    assert set(kinds) <= {"结婚", "离婚", UNKNOWN_CODE_VALUE, None}
    assert kinds["离婚"] > 0


def test_cards_jsonl_chinese_status(drops):
    lines = drops[0][CARDS].read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert list(records[0]) == ["id_no", "bank_name", "account_no", "card_status"]
    statuses = Counter(r["card_status"] for r in records)
    assert set(statuses) <= {"正常", "挂失", "注销", "未激活", "冻结", UNKNOWN_CODE_VALUE, None}
    assert statuses["正常"] > 0.85 * len(records)


def test_enterprise_parquet_types_and_labels(drops):
    table = pq.read_table(drops[0][ENTERPRISES])
    assert str(table.schema.field("established_on").type) == "date32[day]"
    assert str(table.schema.field("uscc").type) == "string"
    sizes = set(table.column("size").to_pylist())
    statuses = set(table.column("status").to_pylist())
    assert sizes <= {"大", "中", "小", "微", UNKNOWN_CODE_VALUE, None}
    assert "存续" in statuses


def test_enterprise_parquet_credit_defects(drops):
    paths, defects = drops
    codes = pq.read_table(paths[ENTERPRISES]).column("uscc").to_pylist()
    failing = {number for number, code in enumerate(codes, start=1)
               if not code or not uscc.is_valid(code)}
    tagged = {d["row"] for d in defects_of(defects, ENTERPRISES) if d["column"] == "uscc"}
    assert failing == tagged


def test_cards_jsonl_id_defects_match(drops):
    paths, defects = drops
    lines = paths[CARDS].read_text(encoding="utf-8").splitlines()
    failing = {number for number, line in enumerate(lines, start=1)
               if not check_resident_id(json.loads(line)["id_no"]).ok}
    tagged = {d["row"] for d in defects_of(defects, CARDS) if d["column"] == "id_no"}
    assert failing == tagged


def test_cards_jsonl_duplicates_match(drops):
    paths, defects = drops
    lines = paths[CARDS].read_text(encoding="utf-8").splitlines()
    duplicates = [d for d in defects_of(defects, CARDS) if d["kind"] == "duplicate_row"]
    assert duplicates
    for defect in duplicates:
        assert lines[defect["row"] - 1] == lines[defect["duplicate_of"] - 1]


def test_drops_leave_world_unchanged(world, tmp_path):
    before = json.dumps(world.persons[:500], default=str)
    write_drops(world, tmp_path / "landing", defect_share=0.2)
    assert json.dumps(world.persons[:500], default=str) == before
    assert all(ric.is_valid(p["id_no"]) for p in world.persons)


def test_drops_zero_share_no_defects(tmp_path):
    world = generate_world(persons=1500, seed=2, as_of=AS_OF)
    paths = write_drops(world, tmp_path / "landing", defect_share=0.0)
    assert json.loads((tmp_path / DEFECTS_FILE).read_text(encoding="utf-8")) == []
    lines = read_csv(paths[PSB], "gb18030")
    column = lines[0].index(header(PSB, "id_no"))
    assert all(check_resident_id(line[column]).ok for line in lines[1:])


def test_drops_stamp_in_file_name(tmp_path):
    world = generate_world(persons=300, seed=2, as_of=AS_OF)
    paths = write_drops(world, tmp_path / "landing", stamp="20250701T0200")
    assert paths[PSB].name == "household_register_20250701T0200.csv"
    default = write_drops(world, tmp_path / "other" / "landing")
    assert default[PSB].name == "household_register_20250615.csv"


def test_drops_reject_bad_share(world, tmp_path):
    with pytest.raises(ValueError, match="defect_share"):
        write_drops(world, tmp_path / "landing", defect_share=1.5)


# --- write_dataset ------------------------------------------------------------------------------

HAND_ROWS = [
    {"id_no": "110105194912310021", "name": "张三", "date_of_death": datetime.date(2024, 3, 1)},
    {"id_no": "3.10105E+17", "name": None, "date_of_death": "2023-02-30", "note": "extra"},
]


def test_write_dataset_csv_chinese_gb18030(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.csv", DEATHS, "csv", headers="chinese",
                         encoding="gb18030")
    lines = read_csv(path, "gb18030")
    assert lines == [
        ["公民身份号码", "姓名", "死亡日期", "note"],
        ["110105194912310021", "张三", "2024-03-01", ""],
        ["3.10105E+17", "", "2023-02-30", "extra"],
    ]
    assert path.with_name("d.csv.ok").exists()


def test_write_dataset_csv_bom(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.csv", DEATHS, "csv", encoding="utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8 + b"id_no,name,date_of_death,note")


def test_write_dataset_jsonl(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.jsonl", DEATHS, "jsonl")
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records == [
        {"id_no": "110105194912310021", "name": "张三", "date_of_death": "2024-03-01",
         "note": None},
        {"id_no": "3.10105E+17", "name": None, "date_of_death": "2023-02-30", "note": "extra"},
    ]


def test_write_dataset_parquet_date_type(tmp_path):
    path = write_dataset(HAND_ROWS[:1], tmp_path / "d.parquet", DEATHS, "parquet")
    table = pq.read_table(path)
    assert str(table.schema.field("date_of_death").type) == "date32[day]"
    assert table.column("date_of_death").to_pylist() == [datetime.date(2024, 3, 1)]


def test_write_dataset_parquet_raw_dates_as_text(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.parquet", DEATHS, "parquet")
    table = pq.read_table(path)
    assert str(table.schema.field("date_of_death").type) == "string"
    assert table.column("date_of_death").to_pylist() == ["2024-03-01", "2023-02-30"]
    assert table.column("note").to_pylist() == [None, "extra"]


def test_write_dataset_xlsx_cells(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.xlsx", DEATHS, "xlsx", headers="chinese")
    rows = list(openpyxl.load_workbook(path).active.iter_rows())
    assert [c.value for c in rows[0]] == ["公民身份号码", "姓名", "死亡日期", "note"]
    assert rows[1][2].is_date
    assert rows[1][2].value.date() == datetime.date(2024, 3, 1)
    assert rows[1][0].value == "110105194912310021"
    assert rows[2][2].value == "2023-02-30"
    assert rows[2][1].value is None


def test_write_dataset_xlsx_reproducible(tmp_path):
    first = write_dataset(HAND_ROWS, tmp_path / "a.xlsx", DEATHS, "xlsx")
    second = write_dataset(HAND_ROWS, tmp_path / "b.xlsx", DEATHS, "xlsx")
    assert sha256(first) == sha256(second)


def test_write_dataset_no_marker(tmp_path):
    path = write_dataset(HAND_ROWS, tmp_path / "d.csv", DEATHS, "csv", marker=False)
    assert path.exists()
    assert not path.with_name("d.csv.ok").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dataset_key": "psb/unknown", "fmt": "csv"}, "unknown dataset"),
        ({"dataset_key": DEATHS, "fmt": "xls"}, "unknown format"),
        ({"dataset_key": DEATHS, "fmt": "csv", "headers": "pinyin"}, "unknown headers"),
        ({"dataset_key": DEATHS, "fmt": "csv", "encoding": "latin-1"}, "unknown encoding"),
    ],
)
def test_write_dataset_rejects_arguments(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        write_dataset(HAND_ROWS, tmp_path / "d.csv", **arguments)


# --- Programme datasets in the world ----------------------------------------------------------


def month_of(text: str) -> int:
    """Return a YYYY-MM month as a month count, so that consecutive months differ by 1."""
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


def month_start(text: str) -> datetime.date:
    year, month = text.split("-")
    return datetime.date(int(year), int(month), 1)


def kinship_children(world) -> dict[str, set[str]]:
    """Return the children of each parent as the kinship theme links them.

    A birth certificate links its mother and father, and the household register links the
    子 and 女 of each household to the household head.
    """
    children: dict[str, set[str]] = defaultdict(set)
    for birth in world.births:
        for key in ("mother_id_no", "father_id_no"):
            if birth[key]:
                children[birth[key]].add(birth["child_id_no"])
    heads = {p["household_id"]: p["id_no"] for p in world.persons
             if p["relation_to_head"] == "户主"}
    for person in world.persons:
        if person["relation_to_head"] in ("子", "女"):
            children[heads[person["household_id"]]].add(person["id_no"])
    return children


def canonical_codes(dataset: str, column: str) -> set[str]:
    return set(load_contracts()[dataset].column(column).codes.values())


def test_world_new_fields_default_empty():
    world = SampleWorld(persons=[], deaths=[], marriages=[], births=[], cards=[],
                        enterprises=[], addresses=[])
    for name in WORLD_FIELDS.values():
        assert getattr(world, name) == [], name


def test_world_programme_records_present(world):
    for dataset, name in WORLD_FIELDS.items():
        assert getattr(world, name), dataset


def test_world_programme_columns_match_contracts(world):
    for dataset, name in WORLD_FIELDS.items():
        contract = load_contracts()[dataset]
        columns = [c.name for c in contract.columns if c.name != contract.delete_column]
        assert list(getattr(world, name)[0]) == columns, dataset


def test_world_programme_keys_unique(world):
    for dataset, name in WORLD_FIELDS.items():
        key = load_contracts()[dataset].primary_key
        keys = [tuple(row[k] for k in key) for row in getattr(world, name)]
        assert len(set(keys)) == len(keys), dataset


def test_disability_share_and_holders(world):
    registered = {p["id_no"] for p in world.persons}
    certificates = world.disability_certificates
    assert len(certificates) == round(0.025 * len(world.persons))
    assert all(ric.is_valid(c["id_no"]) for c in certificates)
    assert all(c["id_no"] in registered for c in certificates)


def test_disability_holders_older_on_average(world):
    births = {p["id_no"]: p["birth_date"] for p in world.persons}
    holders = [age_on(births[c["id_no"]], AS_OF) for c in world.disability_certificates]
    everyone = [age_on(p["birth_date"], AS_OF) for p in world.persons]
    assert sum(holders) / len(holders) > sum(everyone) / len(everyone)


def test_disability_certificate_numbers(world):
    digits = {"vision": "1", "hearing": "2", "speech": "3", "physical": "4",
              "intellectual": "5", "mental": "6", "multiple": "7"}
    for certificate in world.disability_certificates:
        number = certificate["certificate_no"]
        assert len(number) == 20, number
        assert number[:18] == certificate["id_no"], number
        assert number[18] == digits[certificate["category"]], number
        assert number[19] == certificate["grade"], number


def test_disability_codes_in_contract(world):
    categories = Counter(c["category"] for c in world.disability_certificates)
    grades = Counter(c["grade"] for c in world.disability_certificates)
    assert set(categories) == canonical_codes(DISABILITY, "category")
    assert set(grades) == canonical_codes(DISABILITY, "grade")
    assert grades["3"] + grades["4"] > 1.5 * (grades["1"] + grades["2"])
    assert categories["physical"] == max(categories.values())


def test_disability_validity_mix(world):
    valid_until = [c["valid_until"] for c in world.disability_certificates]
    expired = [d for d in valid_until if d < AS_OF]
    expiring = [d for d in valid_until if AS_OF <= d <= AS_OF + datetime.timedelta(days=120)]
    assert 0 < len(expired) < 0.1 * len(valid_until)
    assert 0 < len(expiring) < 0.1 * len(valid_until)
    assert all(d >= AS_OF - datetime.timedelta(days=365) for d in valid_until)
    assert all(d <= AS_OF + datetime.timedelta(days=3653) for d in valid_until)


def test_insurance_active_enterprises_only(world):
    statuses = {e["uscc"]: e["status"] for e in world.enterprises}
    codes = {r["uscc"] for r in world.unemployment_insurance}
    assert all(uscc.is_valid(code) for code in codes)
    assert {statuses[code] for code in codes} == {"active"}
    active = sum(status == "active" for status in statuses.values())
    assert len(codes) > 0.95 * active


def test_insurance_months_last_24(world):
    last = AS_OF.year * 12 + AS_OF.month - 2
    months = {month_of(r["month"]) for r in world.unemployment_insurance}
    assert months == set(range(last - 23, last + 1))
    for row in world.unemployment_insurance:
        assert len(row["month"]) == 7, row


def test_insurance_starts_after_establishment(world):
    established = {e["uscc"]: e["established_on"] for e in world.enterprises}
    for row in world.unemployment_insurance:
        assert month_start(row["month"]) > established[row["uscc"]], row


def test_insurance_headcount_by_size(world):
    sizes = {e["uscc"]: e["size"] for e in world.enterprises}
    by_size: dict[str, list[int]] = defaultdict(list)
    for row in world.unemployment_insurance:
        assert isinstance(row["insured_headcount"], int)
        assert row["insured_headcount"] >= 1, row
        by_size[sizes[row["uscc"]]].append(row["insured_headcount"])
    bounds = {"micro": (1, 9), "small": (10, 99), "medium": (100, 299), "large": (300, 10**6)}
    for size, (low, high) in bounds.items():
        counts = sorted(by_size[size])
        median = counts[len(counts) // 2]
        assert low <= median <= high, size


def test_insurance_premium_per_head(world):
    rows = world.unemployment_insurance
    for row in rows:
        assert isinstance(row["premium_paid"], Decimal)
        assert row["premium_paid"].as_tuple().exponent == -2, row
        per_head = row["premium_paid"] / row["insured_headcount"]
        assert Decimal("30") <= per_head <= Decimal("190"), row
    total = sum(r["premium_paid"] for r in rows) / sum(r["insured_headcount"] for r in rows)
    assert Decimal("50") <= total <= Decimal("70")


def test_insurance_previous_year_gaps(world):
    year = AS_OF.year - 1
    months: dict[str, set[str]] = defaultdict(set)
    for row in world.unemployment_insurance:
        months[row["uscc"]].add(row["month"])
    full_year = {f"{year}-{m:02d}" for m in range(1, 13)}
    since_before = [m for m in months.values() if f"{year - 1}-12" in m]
    with_gaps = [m for m in since_before if not full_year <= m]
    assert 0 < len(with_gaps) < 0.1 * len(since_before)


def test_insurance_layoff_rates(world):
    year = AS_OF.year - 1
    headcounts = {(r["uscc"], r["month"]): r["insured_headcount"]
                  for r in world.unemployment_insurance}
    rates = []
    for code in {r["uscc"] for r in world.unemployment_insurance}:
        before = headcounts.get((code, f"{year - 1}-12"))
        after = headcounts.get((code, f"{year}-12"))
        if before and after:
            rates.append(1 - after / before)
    above_limit = sum(rate > 0.055 for rate in rates)
    above_small_limit = sum(rate > 0.20 for rate in rates)
    assert above_small_limit >= 5
    assert above_limit > above_small_limit
    assert above_limit < 0.3 * len(rates)


def test_employment_months_last_12(world):
    current = AS_OF.year * 12 + AS_OF.month - 1
    months = {month_of(r["month"]) for r in world.employment_records}
    assert months == set(range(current - 11, current + 1))


def test_employment_persons_and_employers_known(world):
    registered = {p["id_no"] for p in world.persons}
    active = {e["uscc"] for e in world.enterprises if e["status"] == "active"}
    insured = {(r["uscc"], r["month"]) for r in world.unemployment_insurance}
    current = f"{AS_OF:%Y-%m}"
    for record in world.employment_records:
        assert record["id_no"] in registered, record
        assert record["uscc"] in active, record
        if record["month"] != current:
            assert (record["uscc"], record["month"]) in insured, record


def test_employment_within_headcount(world):
    headcounts = {(r["uscc"], r["month"]): r["insured_headcount"]
                  for r in world.unemployment_insurance}
    residents = Counter((r["uscc"], r["month"]) for r in world.employment_records)
    over = [key for key, count in residents.items()
            if key in headcounts and count > headcounts[key]]
    assert over == []


def test_employment_working_ages_and_alive(world):
    persons = {p["id_no"]: p for p in world.persons}
    deaths = {d["id_no"]: d["date_of_death"] for d in world.deaths}
    for record in world.employment_records:
        person = persons[record["id_no"]]
        start = month_start(record["month"])
        assert 16 <= age_on(person["birth_date"], start) < 60, record
        if record["id_no"] in deaths:
            assert start <= deaths[record["id_no"]], record


def first_months(world) -> dict[tuple[str, str], str]:
    """Return the first month of each person with each employer."""
    first: dict[tuple[str, str], str] = {}
    for record in sorted(world.employment_records, key=lambda r: r["month"]):
        first.setdefault((record["id_no"], record["uscc"]), record["month"])
    return first


def test_employment_new_hires_each_month(world):
    hires = Counter(first_months(world).values())
    months = sorted({r["month"] for r in world.employment_records})
    for month in months[1:]:
        assert hires[month] >= 5, month


def test_employment_new_hires_often_young(world):
    births = {p["id_no"]: p["birth_date"] for p in world.persons}
    graduation_years: dict[str, set[int]] = defaultdict(set)
    for graduate in world.graduates:
        graduation_years[graduate["id_no"]].add(graduate["graduated_on"].year)
    months = sorted({r["month"] for r in world.employment_records})
    hires = [(key, month) for key, month in first_months(world).items() if month != months[0]]
    qualifying = 0
    for (id_no, _), month in hires:
        start = month_start(month)
        young = 16 <= age_on(births[id_no], start) <= 24
        recent = bool(graduation_years[id_no] & {start.year, start.year - 1})
        qualifying += young or recent
    assert qualifying > 0.3 * len(hires)


def test_graduates_ages_and_dates(world):
    births = {p["id_no"]: p["birth_date"] for p in world.persons}
    for graduate in world.graduates:
        birth = births[graduate["id_no"]]
        assert 20 <= age_on(birth, AS_OF) <= 36, graduate
        assert age_on(birth, graduate["graduated_on"]) >= 18, graduate
        assert graduate["graduated_on"] <= AS_OF, graduate


def test_graduates_levels_and_months(world):
    levels = Counter(g["level"] for g in world.graduates)
    months = Counter(g["graduated_on"].month for g in world.graduates)
    assert set(levels) == canonical_codes(GRADUATES, "level")
    assert levels["bachelor"] == max(levels.values())
    assert months[6] + months[7] > 0.9 * len(world.graduates)


def test_graduates_share_of_young_adults(world):
    graduated = {g["id_no"] for g in world.graduates}
    cohort = [p["id_no"] for p in world.persons if 25 <= age_on(p["birth_date"], AS_OF) <= 30]
    share = sum(i in graduated for i in cohort) / len(cohort)
    assert 0.55 <= share <= 0.85


def test_graduates_this_and_last_year(world):
    years = Counter(g["graduated_on"].year for g in world.graduates)
    assert years[AS_OF.year] > 0
    assert years[AS_OF.year - 1] > 10


def test_graduates_levels_in_order(world):
    order = {"college": 0, "bachelor": 1, "master": 2, "doctor": 3}
    by_person: dict[str, list[dict]] = defaultdict(list)
    for graduate in world.graduates:
        by_person[graduate["id_no"]].append(graduate)
    for records in by_person.values():
        records.sort(key=lambda g: g["graduated_on"])
        ranks = [order[g["level"]] for g in records]
        assert ranks == sorted(ranks), records
        assert len(set(g["graduated_on"].year for g in records)) == len(records), records


def test_dishonest_shares(world):
    entities = {e["subject_id"] for e in world.dishonest_entities
                if e["subject_type"] == "legal_entity"}
    persons = {e["subject_id"] for e in world.dishonest_entities if e["subject_type"] == "person"}
    adults = sum(age_on(p["birth_date"], AS_OF) >= 20 for p in world.persons)
    assert len(entities) == round(0.01 * len(world.enterprises))
    assert len(persons) == round(0.002 * adults)


def test_dishonest_subjects_valid(world):
    enterprises = {e["uscc"] for e in world.enterprises}
    registered = {p["id_no"] for p in world.persons}
    assert {e["subject_type"] for e in world.dishonest_entities} == canonical_codes(
        DISHONESTY, "subject_type")
    for entry in world.dishonest_entities:
        if entry["subject_type"] == "legal_entity":
            assert uscc.is_valid(entry["subject_id"]), entry
            assert entry["subject_id"] in enterprises, entry
        else:
            assert ric.is_valid(entry["subject_id"]), entry
            assert entry["subject_id"] in registered, entry


def test_dishonest_dates_and_removals(world):
    entries = world.dishonest_entities
    for entry in entries:
        assert AS_OF - datetime.timedelta(days=6 * 366) <= entry["listed_on"] < AS_OF, entry
        if entry["removed_on"] is not None:
            assert entry["listed_on"] < entry["removed_on"], entry
            assert entry["removed_on"] < AS_OF, entry
    removed = sum(e["removed_on"] is not None for e in entries)
    assert 0 < removed < 0.5 * len(entries)
    assert {e["list_name"] for e in entries} >= {"失信被执行人名单", "严重违法失信名单"}


def test_dishonest_adults_when_listed(world):
    births = {p["id_no"]: p["birth_date"] for p in world.persons}
    established = {e["uscc"]: e["established_on"] for e in world.enterprises}
    for entry in world.dishonest_entities:
        if entry["subject_type"] == "person":
            assert age_on(births[entry["subject_id"]], entry["listed_on"]) >= 18, entry
        else:
            assert entry["listed_on"] > established[entry["subject_id"]], entry


def test_martyrs_count(world):
    assert len(world.martyrs) == 4
    small = generate_world(persons=3000, seed=11, as_of=AS_OF)
    assert len(small.martyrs) >= 2


def test_martyrs_dates(world):
    for martyr in world.martyrs:
        number = martyr["martyr_id_no"]
        assert ric.is_valid(number), martyr
        assert ric.get_birth_date(number) < martyr["died_on"], martyr
        assert martyr["died_on"] < martyr["recognised_on"], martyr
        assert martyr["recognised_on"] < AS_OF, martyr
        assert martyr["died_on"] >= AS_OF - datetime.timedelta(days=730), martyr


def test_martyrs_registered_and_dead(world):
    persons = {p["id_no"]: p for p in world.persons}
    deaths = {d["id_no"]: d for d in world.deaths}
    for martyr in world.martyrs:
        number = martyr["martyr_id_no"]
        assert persons[number]["name"] == martyr["name"], martyr
        assert deaths[number]["date_of_death"] == martyr["died_on"], martyr


def test_martyrs_spouse_married_and_children(world):
    children = kinship_children(world)
    divorced = {(m["party_a_id"], m["party_b_id"]) for m in world.marriages
                if m["kind"] == "divorce"}
    for martyr in world.martyrs:
        number = martyr["martyr_id_no"]
        marriages = [m for m in world.marriages if m["kind"] == "marriage"
                     and number in (m["party_a_id"], m["party_b_id"])
                     and (m["party_a_id"], m["party_b_id"]) not in divorced]
        assert len(marriages) == 1, martyr
        assert marriages[0]["registered_on"] < martyr["died_on"], martyr
        assert children[number], martyr


def test_only_child_parents_every_month(world):
    children = kinship_children(world)
    reaching: Counter = Counter()
    for person in world.persons:
        if person["hukou_region"] != DISTRICT_CODE or len(children.get(person["id_no"], ())) != 1:
            continue
        age = 60 if person["gender"] == "1" else 55
        birth = person["birth_date"]
        reaching[(person["gender"], birth.year + age, birth.month)] += 1
    for shift in range(-12, 13):
        index = AS_OF.year * 12 + AS_OF.month - 1 + shift
        year, month = index // 12, index % 12 + 1
        assert reaching[("1", year, month)] >= 2, ("men", year, month)
        assert reaching[("2", year, month)] >= 2, ("women", year, month)


def test_children_under_three_have_parents(world):
    births = [b for b in world.births if age_on(b["birth_date"], AS_OF) < 3]
    assert len(births) > 0.005 * len(world.persons)
    with_father = sum(b["father_id_no"] is not None for b in births)
    assert with_father > 0.8 * len(births)


# --- Programme drop files ----------------------------------------------------------------------


def test_programme_defects_counted(drops, world):
    _, defects = drops
    for dataset, name in WORLD_FIELDS.items():
        rows = getattr(world, name)
        tagged = defects_of(defects, dataset)
        assert len(tagged) == max(1, round(0.01 * len(rows))), dataset


def test_programme_defect_kinds_fit_form(drops):
    _, defects = drops
    allowed = {
        INSURANCE: {"check_digit", "missing_required", "duplicate_row"},
        EMPLOYMENT: {"check_digit", "missing_required", "duplicate_row", "unknown_code"},
        DISHONESTY: {"missing_required", "duplicate_row", "unknown_code"},
    }
    for dataset, kinds in allowed.items():
        assert {d["kind"] for d in defects_of(defects, dataset)} <= kinds, dataset
    assert "unknown_code" in {d["kind"] for d in defects_of(defects, DISABILITY)}


def xlsx_rows(path: Path) -> list[tuple]:
    return list(openpyxl.load_workbook(path).active.iter_rows())


def test_disability_xlsx_labels_and_dates(drops):
    paths, defects = drops
    rows = xlsx_rows(paths[DISABILITY])
    headers = [cell.value for cell in rows[0]]
    assert headers == ["公民身份号码", "残疾人证号", "残疾类别", "残疾等级", "有效期至"]
    categories = Counter(row[2].value for row in rows[1:])
    grades = Counter(row[3].value for row in rows[1:])
    assert set(categories) <= {"视力", "听力", "言语", "肢体", "智力", "精神", "多重",
                               UNKNOWN_CODE_VALUE, None}
    assert set(grades) <= {"1", "2", "3", "4", "一级", "二级", "三级", "四级",
                           UNKNOWN_CODE_VALUE, None}
    assert grades["四级"] > 0
    assert grades["4"] > grades["四级"]
    bad_dates = {d["row"] for d in defects_of(defects, DISABILITY)
                 if d["kind"] in ("impossible_date", "missing_required")}
    cells = [row[4] for number, row in enumerate(rows[1:], start=2) if number not in bad_dates]
    assert all(cell.is_date for cell in cells)


def test_disability_xlsx_id_defects_match(drops):
    paths, defects = drops
    rows = xlsx_rows(paths[DISABILITY])
    failing = {number for number, row in enumerate(rows, start=1)
               if number > 1 and not check_resident_id(row[0].value).ok}
    tagged = {d["row"] for d in defects_of(defects, DISABILITY) if d["column"] == "id_no"}
    assert failing == tagged


def test_insurance_csv_gb18030_chinese(drops):
    data = drops[0][INSURANCE].read_bytes()
    text = data.decode("gb18030")
    assert text.splitlines()[0] == "统一社会信用代码,缴费年月,参保人数,实缴金额"
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")


def test_insurance_csv_credit_defects_match(drops):
    paths, defects = drops
    lines = read_csv(paths[INSURANCE], "gb18030")
    failing = {number for number, line in enumerate(lines, start=1)
               if number > 1 and not check_credit_code(line[0]).ok}
    tagged = {d["row"] for d in defects_of(defects, INSURANCE) if d["column"] == "uscc"}
    assert failing == tagged


def test_insurance_csv_numbers(drops):
    lines = read_csv(drops[0][INSURANCE], "gb18030")
    for line in lines[1:]:
        if line[2]:
            assert line[2].isdigit(), line
        if line[3]:
            whole, cents = line[3].split(".")
            assert whole.isdigit(), line
            assert len(cents) == 2, line


def test_employment_parquet_strings(drops, world):
    paths, defects = drops
    table = pq.read_table(paths[EMPLOYMENT])
    assert table.column_names == ["id_no", "uscc", "month"]
    assert {str(field.type) for field in table.schema} == {"string"}
    duplicates = sum(d["kind"] == "duplicate_row" for d in defects_of(defects, EMPLOYMENT))
    assert table.num_rows == len(world.employment_records) + duplicates


def test_employment_parquet_id_defects_match(drops):
    paths, defects = drops
    table = pq.read_table(paths[EMPLOYMENT])
    for column, check in (("id_no", check_resident_id), ("uscc", check_credit_code)):
        values = table.column(column).to_pylist()
        failing = {number for number, value in enumerate(values, start=1) if not check(value).ok}
        tagged = {d["row"] for d in defects_of(defects, EMPLOYMENT) if d["column"] == column}
        assert failing == tagged, column


def test_graduates_csv_labels_and_dates(drops):
    lines = read_csv(drops[0][GRADUATES], "utf-8")
    assert lines[0] == ["公民身份号码", "毕业日期", "学历层次"]
    levels = Counter(line[2] for line in lines[1:])
    assert set(levels) <= {"专科", "本科", "硕士", "博士", UNKNOWN_CODE_VALUE, ""}
    assert levels["本科"] == max(levels.values())
    dates = [line[1] for line in lines[1:] if line[1]]
    assert all(len(d) == 8 and d.isdigit() for d in dates)


def test_dishonesty_jsonl_labels(drops):
    lines = drops[0][DISHONESTY].read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert list(records[0]) == ["subject_type", "subject_id", "list_name", "listed_on",
                                "removed_on"]
    types = Counter(r["subject_type"] for r in records)
    assert set(types) <= {"法人", "自然人", UNKNOWN_CODE_VALUE, None}
    assert types["法人"] > 0
    assert types["自然人"] > types["法人"]
    assert any(r["removed_on"] is None for r in records)


def test_martyrs_xlsx_cells(drops, world):
    paths, defects = drops
    rows = xlsx_rows(paths[MARTYRS])
    assert [cell.value for cell in rows[0]] == ["烈士身份证号", "姓名", "牺牲日期", "批准日期"]
    duplicates = sum(d["kind"] == "duplicate_row" for d in defects_of(defects, MARTYRS))
    assert len(rows) == 1 + len(world.martyrs) + duplicates
    damaged = {d["row"] for d in defects_of(defects, MARTYRS)}
    for number, row in enumerate(rows[1:], start=2):
        if number not in damaged:
            assert row[2].is_date and row[3].is_date, number


def test_programme_drops_same_seed_identical(tmp_path):
    world = generate_world(persons=2500, seed=4, as_of=AS_OF)
    first = write_drops(world, tmp_path / "a" / "landing", seed=9)
    second = write_drops(world, tmp_path / "b" / "landing", seed=9)
    for dataset in WORLD_FIELDS:
        assert sha256(first[dataset]) == sha256(second[dataset]), dataset


def test_programme_world_other_seed_differs():
    first = generate_world(persons=2000, seed=3, as_of=AS_OF)
    second = generate_world(persons=2000, seed=4, as_of=AS_OF)
    for name in WORLD_FIELDS.values():
        assert getattr(first, name) != getattr(second, name), name


def read_back(path: Path, fmt: str) -> list[dict]:
    """Return the records of a file written by write_dataset, as text keyed by header."""
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet", "jsonl"])
def test_write_dataset_programme_keys(world, tmp_path, fmt):
    for dataset, name in WORLD_FIELDS.items():
        rows = getattr(world, name)[:3]
        path = write_dataset(rows, tmp_path / f"{name}.{fmt}", dataset, fmt, headers="chinese")
        records = read_back(path, fmt)
        assert len(records) == len(rows), dataset
        assert list(records[0]) == [header(dataset, column) for column in rows[0]], dataset
    rows = world.unemployment_insurance[:1]
    path = write_dataset(rows, tmp_path / f"premium.{fmt}", INSURANCE, fmt)
    record = read_back(path, fmt)[0]
    assert record["premium_paid"] == str(rows[0]["premium_paid"])
    assert record["insured_headcount"] == str(rows[0]["insured_headcount"])
