"""The nightly cycle on generated sample drops: payouts against the generated truth, and row
accounting against the defects the generator injected."""

import csv
import datetime as dt
import json
import subprocess
import sys

import dagster as dg
from test_cycle import expected_age

from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.paths import PROJECT_DIR
from mianshen_pipeline.resources import resources_from_env
from mianshen_pipeline.runner import run_cycle
from mianshen_pipeline.sample import generate_world, write_drops

AS_OF = dt.date(2026, 11, 18)
BRACKETS = [(65, 69, 75), (70, 79, 150), (80, 89, 180), (90, 99, 350), (100, 200, 600)]


def truth_payouts(world, start: dt.date, end: dt.date) -> dict[str, str]:
    deaths = {d["id_no"]: d["date_of_death"] for d in world.deaths}
    accounts = {c["id_no"] for c in world.cards if c["card_status"] == "normal"}
    paid = {}
    for p in world.persons:
        death = deaths.get(p["id_no"])
        age = expected_age(p["birth_date"], end)
        if p["hukou_region"] != "310105" or (death and death < start) or age < 65:
            continue
        if p["id_no"] in accounts:
            paid[p["id_no"]] = next(f"{a}.00" for lo, hi, a in BRACKETS if lo <= age <= hi)
    return paid


def test_generated_drops_paid_by_rule(home):
    world = generate_world(persons=3000, seed=11, as_of=AS_OF)
    write_drops(world, home.landing, defect_share=0.0, seed=11)
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(AS_OF, instance, defs)
    assert summary.success, summary.problems

    path = home.outbox / "finance" / "elderly_allowance" / "2026-11" / "payout.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        paid = {row["payee_id"]: row["amount"] for row in csv.DictReader(fh)}
    expected = truth_payouts(world, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert len(expected) > 300
    assert paid == expected


def test_generated_defects_quarantined(home):
    world = generate_world(persons=2000, seed=5, as_of=AS_OF)
    write_drops(world, home.landing, defect_share=0.02, seed=5)
    defects = json.loads((home.root / "sample_defects.json").read_text(encoding="utf-8"))
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_cycle(AS_OF, instance, defs)
    assert summary.success, summary.problems

    for key, meta in summary.materialized.items():
        if not key.startswith("landing/") or key == "landing/inventory":
            continue
        dataset = key.removeprefix("landing/")
        injected = {d["row"] for d in defects if d["dataset"] == dataset}
        assert meta["rows_quarantined"] == len(injected), dataset
        assert meta["rows_read"] == meta["rows_accepted"] + meta["rows_quarantined"]


def test_definitions_validate_command(home):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w",
         str(PROJECT_DIR / "workspace.yaml")],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_no_personal_data_in_event_logs(home):
    world = generate_world(persons=1500, seed=3, as_of=AS_OF)
    write_drops(world, home.landing, defect_share=0.02, seed=3)
    defs = build_definitions(resources_from_env(home.root))
    with dg.DagsterInstance.ephemeral() as instance:
        run_cycle(AS_OF, instance, defs)
        runs = [record.dagster_run.run_id for record in instance.get_run_records()]
        text = "\n".join(
            dg.serialize_value(entry) for run_id in runs for entry in instance.all_logs(run_id)
        )
    assert len(runs) == 4
    assert "********" in text
    secrets = {p["id_no"] for p in world.persons} | {p["name"] for p in world.persons}
    secrets |= {c["account_no"] for c in world.cards}
    found = [s for s in secrets if s and (s in text or json.dumps(s)[1:-1] in text)]
    assert found == []
