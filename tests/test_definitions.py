"""The Dagster code location: assets, pools, the schedule and the landing sensor."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
from files import drop, write_csv

from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.definitions import build_definitions
from mianshen_pipeline.defs.policies import policy_asset_keys
from mianshen_pipeline.resources import resources_from_env

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_definitions_load(home):
    defs = build_definitions(resources_from_env(home.root))
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    for card in load_catalogue().values():
        assert {key.to_user_string() for key in policy_asset_keys(card)} <= keys
    assert "payout/elderly_allowance" in keys
    assert "payout/childcare_subsidy" in keys  # confirm mode pays what was confirmed
    assert "push/preferential_treatment" not in keys
    assert "landing/psb/household_register" in keys
    assert {f"theme/{name}" for name in
            ("person", "legal_entity", "kinship", "marriage", "address")} <= keys


def test_every_asset_in_writer_pool(home):
    defs = build_definitions(resources_from_env(home.root))
    graph = defs.resolve_asset_graph()
    writers = [graph.get(key) for key in graph.get_all_asset_keys()
               if "duckdb" in graph.get(key).kinds]
    assert len(writers) > 20
    for node in writers:
        assert node.pools == {"duckdb_writer"}, node.key


def test_schedule_uses_shanghai_date():
    # 17:00 UTC on 30 November is 01:00 on 1 December in Shanghai.
    tick = dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)
    defs = build_definitions()
    context = dg.build_schedule_context(scheduled_execution_time=tick,
                                        repository_def=defs.get_repository_def())
    nightly_schedule = defs.resolve_schedule_def("nightly_schedule")
    request = nightly_schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-12"
    assert request.tags["mianshen/as_of"] == "2026-12-01"
    assert nightly_schedule.cron_schedule == "0 1 * * *"
    assert nightly_schedule.execution_timezone == "Asia/Shanghai"


def test_sensor_requests_new_drops_once(home):
    resources = resources_from_env(home.root)
    defs = build_definitions(resources)
    sensor = defs.resolve_sensor_def("landing_sensor")
    write_csv(drop(home.landing, "civil_affairs/death_records", "d.csv"),
              ["id_no", "name", "date_of_death"], [])

    with dg.build_sensor_context(resources=resources) as context:
        [request] = sensor.evaluate_tick(context).run_requests
        cursor = context.cursor
    assert {k.to_user_string() for k in request.asset_selection} == {
        "landing/civil_affairs/death_records", "staging/civil_affairs/death_records"
    }

    with dg.build_sensor_context(resources=resources, cursor=cursor) as context:
        result = sensor.evaluate_tick(context)
    assert result.run_requests == []
    assert "no new complete drops" in result.skip_message


def test_cycle_date_outside_partitions(home):
    from click.testing import CliRunner

    from mianshen_pipeline.cli import main

    result = CliRunner().invoke(main, ["cycle", "--date", "2015-06-01"])
    assert result.exit_code == 1
    assert "no monthly cycle 2015-06 for the date 2015-06-01" in result.output
    assert "Traceback" not in result.output


def test_dead_cli_run_released():
    from mianshen_pipeline.runner import CLI_TAG, release_dead_runs

    with dg.DagsterInstance.ephemeral() as instance:
        dead = dg.DagsterRun(job_name="nightly_cycle", run_id="0" * 32,
                             status=dg.DagsterRunStatus.STARTED, tags={CLI_TAG: "cli"})
        other = dg.DagsterRun(job_name="nightly_cycle", run_id="1" * 32,
                              status=dg.DagsterRunStatus.STARTED)
        instance.add_run(dead)
        instance.add_run(other)
        assert release_dead_runs(instance) == ["0" * 32]
        assert instance.get_run_by_id("0" * 32).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("1" * 32).status == dg.DagsterRunStatus.STARTED
