"""Landing and staging assets, one pair per dataset contract, and the sensor that ingests
complete drops as they arrive."""

import hashlib
import json

import dagster as dg

from mianshen_pipeline.calendar import WorkingCalendar
from mianshen_pipeline.clock import as_of_from_tags
from mianshen_pipeline.contracts import DatasetContract, load_contracts
from mianshen_pipeline.landing import find_complete_files, find_unrouted, ingest_dataset
from mianshen_pipeline.resources import PipelineSettings, Warehouse
from mianshen_pipeline.security import masked_preview
from mianshen_pipeline.sla import freshness
from mianshen_pipeline.staging import merge, staging_table
from mianshen_pipeline.suites import suite_path

WRITER_POOL = "duckdb_writer"
PREVIEW_ROWS = 5


def landing_key(contract: DatasetContract) -> dg.AssetKey:
    return dg.AssetKey(["landing", contract.department, contract.dataset])


def staging_key(contract: DatasetContract) -> dg.AssetKey:
    return dg.AssetKey(["staging", contract.department, contract.dataset])


def _drops_markdown(outcomes) -> str:
    lines = ["| drop | file | status | read | accepted | quarantined |",
             "| --- | --- | --- | --- | --- | --- |"]
    for o in outcomes:
        lines.append(f"| {o.drop_id} | {o.file_name} | {o.status} | {o.rows_read} | "
                     f"{o.rows_accepted} | {o.rows_quarantined} |")
    return "\n".join(lines)


def _expectation_results(suite: dict, processed) -> list[dg.AssetCheckResult]:
    """Build one check result per expectation, aggregated over the drops of this run."""
    results = []
    for expectation in suite["expectations"]:
        check = expectation["meta"]["check"]
        failed = {}
        checked = 0
        for outcome in processed:
            for item in outcome.expectations:
                if item.check != check:
                    continue
                checked += item.element_count
                if not item.success:
                    failed[outcome.drop_id] = {"unexpected": item.unexpected_count,
                                               "examples": item.examples}
        severity = (dg.AssetCheckSeverity.ERROR if expectation["severity"] == "critical"
                    else dg.AssetCheckSeverity.WARN)
        results.append(dg.AssetCheckResult(
            check_name=f"gx_{check}",
            passed=not failed,
            severity=severity,
            metadata={"rows_checked": checked, "failed_drops": dg.MetadataValue.json(failed),
                      "meaning": expectation["meta"]["reason"]},
        ))
    return results


def build_landing_asset(contract: DatasetContract) -> dg.AssetsDefinition:
    key = landing_key(contract)
    suite = json.loads(suite_path(contract).read_text(encoding="utf-8"))

    @dg.asset(
        key=key,
        group_name="landing",
        pool=WRITER_POOL,
        kinds={"duckdb", "file"},
        description=f"Drops of {contract.title} received, archived, checked and loaded.",
        metadata={"dataset": contract.key, "load": contract.load,
                  "formats": ", ".join(contract.formats)},
        check_specs=[
            dg.AssetCheckSpec("row_accounting", asset=key, blocking=True,
                              description="Rows read = rows accepted + rows quarantined."),
            dg.AssetCheckSpec("no_rejected_drops", asset=key,
                              description="Warns when a drop of this run was rejected whole."),
            dg.AssetCheckSpec("snapshot_size", asset=key,
                              description="Warns when a snapshot shrank so much that it is "
                              "held for review instead of applied."),
            *[
                dg.AssetCheckSpec(
                    f"gx_{expectation['meta']['check']}", asset=key,
                    description=f"[{expectation['severity']}, "
                    f"{expectation['meta']['action'].replace('_', ' ')}] "
                    f"{expectation['type']}: fails when {expectation['meta']['reason']}.",
                )
                for expectation in suite["expectations"]
            ],
        ],
    )
    def _landing(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        with warehouse.session() as con:
            outcomes = ingest_dataset(
                con, settings.paths, contract, stable_seconds=settings.drop_stable_seconds,
                run_id=context.run_id, log=context.log.info,
            )
        processed = [o for o in outcomes if o.status in ("accepted", "rejected", "held")]
        held = [o for o in processed if o.status == "held"]
        for outcome in held:
            context.log.warning(f"{contract.key} drop {outcome.drop_id} held: {outcome.error}")
        rejected = [o for o in processed if o.status == "rejected"]
        for outcome in rejected:
            context.log.warning(f"{contract.key} drop {outcome.drop_id} rejected: "
                                f"{outcome.error}")
        unbalanced = [o.drop_id for o in processed
                      if o.rows_read != o.rows_accepted + o.rows_quarantined]
        return dg.MaterializeResult(
            metadata={
                "drops_processed": len(processed),
                "drops_redelivered": sum(o.status == "redelivered" for o in outcomes),
                "drops_rejected": len(rejected),
                "drops_held": len(held),
                "rows_read": sum(o.rows_read for o in processed),
                "rows_accepted": sum(o.rows_accepted for o in processed),
                "rows_quarantined": sum(o.rows_quarantined for o in processed),
                "drops": dg.MetadataValue.md(_drops_markdown(outcomes)),
                "receipts": dg.MetadataValue.json(
                    [str(o.receipt) for o in outcomes if o.receipt]
                ),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="row_accounting",
                    passed=not unbalanced,
                    metadata={"unbalanced_drops": dg.MetadataValue.json(unbalanced)},
                ),
                dg.AssetCheckResult(
                    check_name="no_rejected_drops",
                    passed=not rejected,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rejected": dg.MetadataValue.json(
                        {o.drop_id: o.error for o in rejected}
                    )},
                ),
                dg.AssetCheckResult(
                    check_name="snapshot_size",
                    passed=not held,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"held": dg.MetadataValue.json({o.drop_id: o.error for o in held})},
                ),
                *_expectation_results(suite, processed),
            ],
        )

    return _landing


def build_staging_asset(contract: DatasetContract) -> dg.AssetsDefinition:
    @dg.asset(
        key=staging_key(contract),
        deps=[landing_key(contract)],
        group_name="staging",
        pool=WRITER_POOL,
        kinds={"duckdb"},
        description=f"Current {contract.title}, merged from accepted drops ({contract.load}).",
        metadata={"table": f"staging.{contract.table}",
                  "primary_key": ", ".join(contract.primary_key)},
        check_specs=[dg.AssetCheckSpec(
            "freshness", asset=staging_key(contract),
            description=f"Warns when the last accepted drop is older than the cadence "
            f"allows (every {contract.cadence.every} {contract.cadence.unit.replace('_', ' ')}).",
        )],
    )
    def _staging(
        context: dg.AssetExecutionContext, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        as_of = as_of_from_tags(context.run.tags)
        calendar = WorkingCalendar()
        with warehouse.session() as con:
            result = merge(con, contract)
            fresh = freshness(con, contract, as_of, calendar)
            columns = [c.name for c in contract.columns]
            cursor = con.execute(
                f"SELECT {', '.join(columns)} FROM {staging_table(contract)} "
                f"LIMIT {PREVIEW_ROWS}"
            )
            preview = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        if result.latest_drop_id is None:
            context.log.warning(
                f"{contract.key} has no accepted drop yet; staging.{contract.table} is empty "
                "and policies that need it cannot run"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "drops_applied": result.drops_applied,
                "latest_drop": result.latest_drop_id or "none yet",
                "preview": dg.MetadataValue.json(
                    masked_preview(preview, contract.personal)
                ),
            },
            check_results=[dg.AssetCheckResult(
                check_name="freshness", passed=not fresh.stale,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "last_delivered_on": str(fresh.last_delivered_on or "never"),
                    "next_due_on": str(fresh.next_due_on or "-"),
                    "due_date_provisional": fresh.provisional,
                    "working_days_overdue": fresh.working_days_overdue,
                },
            )],
        )

    return _staging


def _file_signature(path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def build_landing_sensor(ingest_job) -> dg.SensorDefinition:
    contracts = list(load_contracts().values())

    @dg.sensor(
        name="landing_sensor",
        job=ingest_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches ingestion for every dataset that has new complete drops.",
    )
    def _sensor(context: dg.SensorEvaluationContext, settings: PipelineSettings):
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current: dict[str, str] = {}
        new_by_dataset: dict[str, list[str]] = {}
        for contract in contracts:
            folder = settings.paths.landing / contract.department / contract.dataset
            for complete in find_complete_files(folder, settings.drop_stable_seconds):
                name = str(complete.path.relative_to(settings.paths.landing))
                signature = _file_signature(complete.path)
                current[name] = signature
                if seen.get(name) != signature:
                    new_by_dataset.setdefault(contract.key, []).append(f"{name}@{signature}")

        context.update_cursor(json.dumps(current, sort_keys=True))
        if not new_by_dataset:
            return dg.SkipReason("no new complete drops")
        selection = []
        for key in sorted(new_by_dataset):
            contract = load_contracts()[key]
            selection += [landing_key(contract), staging_key(contract)]
        run_key = hashlib.sha256(
            json.dumps(new_by_dataset, sort_keys=True).encode()
        ).hexdigest()[:24]
        return dg.RunRequest(
            run_key=run_key,
            asset_selection=selection,
            tags={"mianshen/datasets": ",".join(sorted(new_by_dataset))},
        )

    return _sensor


INVENTORY_KEY = dg.AssetKey(["landing", "inventory"])


@dg.asset(
    key=INVENTORY_KEY,
    group_name="landing",
    kinds={"file"},
    description="Files in the landing zone that no dataset contract will pick up.",
    check_specs=[dg.AssetCheckSpec(
        "all_files_routed", asset=INVENTORY_KEY,
        description="Warns on files outside every department/dataset folder, in subfolders, "
        "or that are symbolic links; none of them is ever ingested.",
    )],
)
def landing_inventory(
    context: dg.AssetExecutionContext, settings: PipelineSettings
) -> dg.MaterializeResult:
    unrouted = find_unrouted(settings.paths.landing, list(load_contracts().values()))
    for name in unrouted[:20]:
        context.log.warning(f"landing/{name} is not in a dataset folder and is never ingested")
    return dg.MaterializeResult(
        metadata={"unrouted_files": len(unrouted)},
        check_results=[dg.AssetCheckResult(
            check_name="all_files_routed", passed=not unrouted,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"files": dg.MetadataValue.json(unrouted[:100]),
                      "fix": "move each file to landing/<department>/<dataset>/ as a file"},
        )],
    )


def landing_assets() -> list[dg.AssetsDefinition]:
    contracts = load_contracts().values()
    return [landing_inventory, *(build_landing_asset(c) for c in contracts),
            *(build_staging_asset(c) for c in contracts)]
