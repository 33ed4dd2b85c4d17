"""Policy cards, their example cases, dated parameters, explain and checkup."""

import datetime as dt
import shutil

import pytest
import yaml
from click.testing import CliRunner

from mianshen_pipeline.catalogue import POLICIES_DIR, CardError, load_card, load_catalogue
from mianshen_pipeline.cli import main
from mianshen_pipeline.explain import checkup, explain, format_checkup, format_explanation
from mianshen_pipeline.policy_cases import Case, load_cases, run_all, run_case

CASES = [(policy, case.name) for policy, card in load_catalogue().items()
         for case in load_cases(card)]


def test_every_card_has_cases():
    assert {policy for policy, _ in CASES} == set(load_catalogue())


@pytest.mark.parametrize(("policy", "case_name"), CASES)
def test_policy_case(policy, case_name):
    card = load_catalogue()[policy]
    [case] = [c for c in load_cases(card) if c.name == case_name]
    mismatches = run_case(card, case)
    assert [m.describe() for m in mismatches] == []


def test_case_mismatch_reported():
    card = load_catalogue()["elderly_allowance"]
    case = Case.model_validate({
        "name": "wrong on purpose", "cycle": "2026-11",
        "datasets": {"psb/household_register": [
            {"id_no": "P70", "name": "甲", "gender": "1", "birth_date": dt.date(1956, 11, 30),
             "hukou_region": "310105", "household_id": "H1"}]},
        "expect": [{"subject": "P70", "eligible": True, "amount": 75}],
    })
    [mismatch] = run_case(card, case)
    assert mismatch.expected == {"eligible": True, "amount": 75}
    assert mismatch.actual["amount"] == 150


def test_policy_test_command():
    result = CliRunner().invoke(main, ["policy", "test", "elderly_allowance"])
    assert result.exit_code == 0, result.output
    assert "5 passed, 0 failed" in result.output
    result = CliRunner().invoke(main, ["policy", "test", "no_such_policy"])
    assert result.exit_code == 1
    assert "no policy 'no_such_policy'" in result.output


def _copy_card(tmp_path, policy: str, edit) -> tuple:
    data = yaml.safe_load((POLICIES_DIR / f"{policy}.yaml").read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / f"{policy}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_broken_card_names_field(tmp_path):
    path = _copy_card(tmp_path, "elderly_allowance", lambda d: d.pop("hotline"))
    with pytest.raises(CardError, match=r"elderly_allowance.yaml: field hotline: .*add it"):
        load_card(path)
    path = _copy_card(tmp_path, "elderly_allowance", lambda d: d.update(mode="automatic"))
    with pytest.raises(CardError, match="field mode"):
        load_card(path)


def test_dated_parameter_change(tmp_path):
    def raise_amounts(data):
        brackets = data["parameters"]["monthly_amount_by_age"]["values"]
        brackets.append({
            "valid_from": dt.date(2026, 7, 1), "reference": "test increase",
            "value": [dict(row, amount=row["amount"] + 25) for row in brackets[0]["value"]],
        })

    card = load_card(_copy_card(tmp_path, "elderly_allowance", raise_amounts))
    person = {"id_no": "P66", "name": "甲", "gender": "1", "birth_date": dt.date(1960, 1, 1),
              "hukou_region": "310105", "household_id": "H1"}
    for cycle, amount in (("2026-06", 75), ("2026-07", 100)):
        case = Case.model_validate({
            "name": cycle, "cycle": cycle,
            "datasets": {"psb/household_register": [person]},
            "expect": [{"subject": "P66", "eligible": True, "amount": amount}],
        })
        assert run_case(card, case) == [], cycle


def test_unknown_case_column_rejected(tmp_path, monkeypatch):
    card = load_catalogue()["elderly_allowance"]
    broken = tmp_path / "elderly_allowance.cases.yaml"
    shutil.copy(card.cases_path, broken)
    text = broken.read_text(encoding="utf-8").replace("household_id: H1}", "household: H1}", 1)
    broken.write_text(text, encoding="utf-8")
    monkeypatch.setattr(type(card), "cases_path", property(lambda self: broken))
    with pytest.raises(ValueError, match=r"unknown column\(s\) household"):
        run_all("elderly_allowance")


@pytest.fixture
def staged(con):
    """A warehouse with staged rows for one eligible, one nearly eligible and one other."""
    from mianshen_pipeline.contracts import load_contracts
    from mianshen_pipeline.reference import seed_reference
    from mianshen_pipeline.themes import THEME_SPECS
    from mianshen_pipeline.warehouse import quote_ident, read_sql

    for contract in load_contracts().values():
        columns = ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in contract.columns)
        con.execute(f"CREATE OR REPLACE TABLE staging.{contract.table} "
                    f"(_drop_id VARCHAR, _row BIGINT, {columns})")
    people = [
        ("110101195001010113", "张三", "1", dt.date(1950, 1, 1), "310105"),
        ("110101196201010139", "李四", "1", dt.date(1962, 1, 1), "310105"),
        ("110101194001010151", "王五", "1", dt.date(1940, 1, 1), "310104"),
    ]
    con.executemany(
        "INSERT INTO staging.psb__household_register (_drop_id, _row, id_no, name, gender, "
        "birth_date, hukou_region, household_id) VALUES ('d1', ?, ?, ?, ?, ?, ?, 'H')",
        [[i, *p] for i, p in enumerate(people, start=2)],
    )
    con.execute("INSERT INTO landing.drops (drop_seq, drop_id, department, dataset, file_name, "
                "sha256, size_bytes, received_at, archived_path, status) VALUES (1, 'd1', "
                "'psb', 'household_register', 'hjrk.csv', 'x', 1, now(), 'x', 'accepted')")
    seed_reference(con)
    for spec in THEME_SPECS.values():
        con.execute(read_sql(spec.sql_file))
    return con


def test_explain_eligible(staged):
    card = load_catalogue()["elderly_allowance"]
    result = explain(staged, card, "2026-11", "110101195001010113", "310105")
    assert result.eligible
    assert result.amount == 150.0
    assert [c[1] for c in result.conditions] == [True, True, True, True]
    assert result.conditions[-1][0] == "cond_not_excluded_by_correction"
    assert result.sources[0] == "household_register: psb/household_register drop d1 " \
                                "(hjrk.csv), row 2"
    text = format_explanation(result, "110101********0113")
    assert "ELIGIBLE, amount 150.00 yuan" in text
    assert "parameter minimum_age (from 2016-05-01) = 65" in text
    assert "张三" not in text


def test_explain_ineligible(staged):
    card = load_catalogue()["elderly_allowance"]
    result = explain(staged, card, "2026-11", "110101194001010151", "310105")
    assert not result.eligible
    assert [c[0] for c in result.failed] == ["cond_registered_in_district"]


def test_checkup_nearly_eligible(staged):
    results = checkup(staged, "110101196201010139", "310105", dt.date(2026, 11, 15))
    by_policy = {r.policy.id: r for r in results}
    assert by_policy["elderly_allowance"].candidate
    assert [c[0] for c in by_policy["elderly_allowance"].failed] == ["cond_reaches_minimum_age"]
    text = format_checkup(results, "110101********0139")
    assert "~ 老年综合津贴 (elderly_allowance) 2026-11: nearly eligible; missing: " \
           "当月最后一天前年满65周岁" in text
    assert "job_stabilization_refund" not in text
    assert "preferential_treatment" in text


def test_checkup_unknown_identifier(staged):
    assert checkup(staged, "12345", "310105", dt.date(2026, 11, 15)) == []
    assert "neither a valid resident ID" in format_checkup([], "12345")
