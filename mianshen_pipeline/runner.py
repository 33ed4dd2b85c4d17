"""Run the nightly cycle in process, as the schedule would, and summarise what it produced."""

from __future__ import annotations

import datetime as dt
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.clock import AS_OF_TAG
from mianshen_pipeline.defs.jobs import build_nightly_jobs
from mianshen_pipeline.paths import Home

DAGSTER_YAML = """\
# Written by mianshen: every asset that writes the DuckDB file is in the pool duckdb_writer,
# and pools default to one slot, so only one writer runs at a time across all runs.
concurrency:
  pools:
    default_limit: 1
run_monitoring:
  enabled: true
  free_slots_after_run_end_seconds: 30
telemetry:
  enabled: false
"""


def ensure_dagster_home(path: Path) -> Path:
    """Create a Dagster home with the pipeline's instance settings if it has none."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return path


class CycleError(ValueError):
    """A cycle that cannot start: its date has no cycle, or another cycle has locked the home."""


@dataclass
class StepProblem:
    """A failed step or a failed blocking check."""

    step: str
    message: str


@dataclass
class CycleSummary:
    """Summary of one nightly run, for the CLI and tests."""

    run_id: str
    as_of: dt.date
    partition: str
    success: bool
    runs: dict[str, str] = field(default_factory=dict)
    materialized: dict[str, dict] = field(default_factory=dict)
    problems: list[StepProblem] = field(default_factory=list)
    warnings: list[StepProblem] = field(default_factory=list)


def _metadata_values(metadata: dict) -> dict:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


CLI_TAG = "mianshen/launched_by"


@contextmanager
def cycle_lock(home: Home) -> Iterator[None]:
    """Hold an exclusive lock on the home while a cycle runs from the command line.

    The lock is released by the operating system when the process dies, so holding it proves
    that no other command-line cycle on this home is alive.
    """
    path = home.root / ".cycle.lock"
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CycleError(
                f"another `mianshen cycle` is running on {home.root}; wait for it to finish"
            ) from exc
        yield


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark command-line runs left in progress by a killed process as failed, and free the
    concurrency slots they hold; call only while holding ``cycle_lock``."""
    stale = instance.get_run_records(dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING,
                  dg.DagsterRunStatus.NOT_STARTED],
        tags={CLI_TAG: "cli"},
    ))
    released = []
    for record in stale:
        run = record.dagster_run
        instance.report_run_failed(run, "the process running it ended without finishing")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


def run_cycle(
    as_of: dt.date,
    instance: dg.DagsterInstance,
    defs: dg.Definitions | None = None,
    log_level: str = "CRITICAL",
    tags: dict[str, str] | None = None,
) -> CycleSummary:
    """Execute every nightly job for ``as_of`` in this process, the main one first, and
    summarise them together."""
    if defs is None:
        from mianshen_pipeline.definitions import defs as loaded

        defs = loaded
    summary: CycleSummary | None = None
    for nightly in build_nightly_jobs():
        request = nightly.run_request(as_of)
        job = defs.resolve_job_def(nightly.name)
        if not job.partitions_def.has_partition_key(request.partition_key):
            raise CycleError(
                f"no {nightly.cycle.value} cycle {request.partition_key} for the date {as_of}: "
                "cycles run from 2016 up to the current one; give a date from 2016-01-01 "
                "to today in Asia/Shanghai"
            )
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags={**request.tags, **(tags or {})},
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        if summary is None:
            summary = CycleSummary(result.run_id, as_of, request.partition_key, result.success)
        summary.success = summary.success and result.success
        summary.runs[nightly.name] = request.partition_key
        _collect(summary, result)
    assert summary is not None
    report = defs.resolve_job_def("nightly_reporting").execute_in_process(
        instance=instance,
        tags={AS_OF_TAG: as_of.isoformat(), **(tags or {})},
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    summary.success = summary.success and report.success
    _collect(summary, report)
    return summary


def _collect(summary: CycleSummary, result) -> None:
    for event in result.all_events:
        if event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            name = materialization.asset_key.to_user_string()
            summary.materialized[name] = _metadata_values(materialization.metadata)
        elif event.is_step_failure:
            error = event.step_failure_data.error
            message = "failed"
            if error is not None:
                # Dagster wraps the asset's exception, and its cause names what went wrong.
                message = (error.cause or error).message.strip()
            user = event.step_failure_data.user_failure_data
            if user and user.description:
                message = user.description
            summary.problems.append(StepProblem(event.step_key or "?", message))
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                # A run that fails before any step, such as a resource refusing to start.
                cause = error.cause.message.strip() if error.cause else error.message.strip()
                summary.problems.append(StepProblem("run", cause))
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                continue
            check = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            detail = ", ".join(
                f"{k}={getattr(v, 'value', v)}" for k, v in evaluation.metadata.items()
            )
            problem = StepProblem(check, detail or "check failed")
            if evaluation.severity == dg.AssetCheckSeverity.ERROR:
                summary.problems.append(problem)
                summary.success = False
            else:
                summary.warnings.append(problem)


def format_summary(summary: CycleSummary, home: Home) -> str:
    """Render a run summary that names every output file and every problem."""
    status = "succeeded" if summary.success else "FAILED"
    cycles = ", ".join(f"{job} {key}" for job, key in summary.runs.items())
    lines = [f"Nightly cycle as of {summary.as_of} ({cycles}), run "
             f"{summary.run_id[:8]}: {status}"]

    landing = {k: v for k, v in summary.materialized.items() if k.startswith("landing/")}
    if landing:
        total = {key: sum(int(m.get(key, 0)) for m in landing.values())
                 for key in ("drops_processed", "drops_rejected", "drops_redelivered",
                             "rows_read", "rows_accepted", "rows_quarantined")}
        lines.append(
            f"Landing: {total['drops_processed']} drops processed "
            f"({total['drops_rejected']} rejected, {total['drops_redelivered']} re-delivered); "
            f"rows read {total['rows_read']}, accepted {total['rows_accepted']}, "
            f"quarantined {total['rows_quarantined']}"
        )
        lines.append(f"  receipts:   {home.receipts}")
        lines.append(f"  quarantine: {home.quarantine}")
    order = {"cohort": 0, "payout": 1, "push": 2, "disclosure": 3, "suishenma": 4}
    cards = load_catalogue()
    policy_outputs = sorted(
        (name for name in summary.materialized if name.split("/")[0] in order),
        key=lambda name: (name.split("/", 1)[1], order[name.split("/")[0]]),
    )
    for name in policy_outputs:
        meta = summary.materialized[name]
        if name.startswith("cohort/"):
            amount = float(meta.get("amount_total") or 0)
            card = cards.get(name.split("/", 1)[1])
            money = f", {amount:.2f} yuan" if card is None or card.pays else ""
            lines.append(f"{name} {meta.get('cycle')}: {meta.get('eligible')} eligible of "
                         f"{meta.get('candidates')} candidates{money}")
        elif name.startswith("payout/") and not meta.get("released", True):
            lines.append(f"  payout: NOT RELEASED, {meta.get('amount_total')} yuan is over the "
                         "budget ceiling")
        elif name.startswith("payout/"):
            lines.append(f"  payout: {meta.get('path')} ({meta.get('lines')} lines, "
                         f"{meta.get('amount_total')} yuan; "
                         f"{meta.get('eligible_without_account')} without an account)")
        elif name.startswith("push/"):
            lines.append(f"  push:   {meta.get('path')} ({meta.get('messages')} messages)")
        elif name.startswith("disclosure/"):
            lines.append(f"  public: {meta.get('path')} ({meta.get('rows')} rows, shown until "
                         f"{meta.get('notice_until')})")
        elif name.startswith("reporting/"):
            pass
        elif name.startswith("suishenma/"):
            lines.append(f"  QR:     {meta.get('path')} ({meta.get('rows')} entitled)")
    expectation_warnings: dict[str, int] = {}
    if "reporting/reconciliation" in summary.materialized:
        lines.append(f"Evaluation report: "
                     f"{summary.materialized['reporting/reconciliation'].get('report')}")
    for problem in summary.warnings:
        asset, _, check = problem.step.partition(":")
        if check.startswith("gx_"):
            expectation_warnings[asset] = expectation_warnings.get(asset, 0) + 1
        else:
            lines.append(f"WARNING {problem.step}: {problem.message}")
    for asset, count in expectation_warnings.items():
        lines.append(f"WARNING {asset}: {count} expectations failed on some rows, which were "
                     "quarantined; the receipts list them")
    for problem in summary.problems:
        lines.append(f"FAILED {problem.step}: {problem.message}")
    return "\n".join(lines)
