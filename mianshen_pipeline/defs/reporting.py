"""Reconciliation and evaluation assets, run after every nightly job."""

import dagster as dg

from mianshen_pipeline.clock import as_of_from_tags
from mianshen_pipeline.defs.landing import WRITER_POOL
from mianshen_pipeline.reporting import reconcile, write_evaluation
from mianshen_pipeline.resources import PipelineSettings, Warehouse

RECONCILIATION_KEY = dg.AssetKey(["reporting", "reconciliation"])


@dg.asset(
    key=RECONCILIATION_KEY,
    group_name="reporting",
    pool=WRITER_POOL,
    kinds={"duckdb", "html"},
    description="Eligible, pushed, confirmed and paid per policy and cycle, with the "
    "evaluation report.",
    metadata={"table": "reporting.reconciliation", "report": "reports/evaluation/"},
    check_specs=[
        dg.AssetCheckSpec("no_unmatched_payout_lines", asset=RECONCILIATION_KEY,
                          description="Fails when a payout line has no eligible row for its "
                          "subject and period."),
        dg.AssetCheckSpec("no_omissions", asset=RECONCILIATION_KEY,
                          description="Warns when a subject eligible in two consecutive "
                          "cycles has no payout line for either."),
    ],
)
def reconciliation(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
) -> dg.MaterializeResult:
    as_of = as_of_from_tags(context.run.tags)
    with warehouse.session() as con:
        rows = reconcile(con)
    report = write_evaluation(rows, settings.paths.reports, as_of)
    unmatched = {f"{r['policy_id']} {r['cycle']}": r["unmatched_lines"]
                 for r in rows if r["unmatched_lines"]}
    omissions = {f"{r['policy_id']} {r['cycle']}": r["omissions"]
                 for r in rows if r["omissions"]}
    return dg.MaterializeResult(
        metadata={"policy_cycles": len(rows), "report": dg.MetadataValue.path(str(report))},
        check_results=[
            dg.AssetCheckResult(check_name="no_unmatched_payout_lines", passed=not unmatched,
                                metadata={"unmatched": dg.MetadataValue.json(unmatched)}),
            dg.AssetCheckResult(check_name="no_omissions", passed=not omissions,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"omissions": dg.MetadataValue.json(omissions)}),
        ],
    )


reporting_job = dg.define_asset_job(
    "nightly_reporting",
    selection=dg.AssetSelection.groups("reporting"),
    description="Reconcile every policy and cycle and write the evaluation report.",
)


@dg.schedule(
    name="nightly_reporting_schedule",
    job=reporting_job,
    cron_schedule="0 3 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Reconciles at 03:00 Asia/Shanghai, after the nightly jobs.",
)
def reporting_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return dg.RunRequest()
