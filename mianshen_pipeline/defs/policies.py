"""One factory turns every policy card into a cohort, a payout and a push asset, partitioned
by the card's calculation cycle."""

import csv
import json

import dagster as dg

from mianshen_pipeline.calendar import WorkingCalendar
from mianshen_pipeline.catalogue import Cycle, Mode, PolicyCard, load_catalogue
from mianshen_pipeline.clock import as_of_from_tags
from mianshen_pipeline.cohorts import (
    PolicyError,
    cohort_table,
    cycle_window,
    missing_datasets,
    store_cohort,
)
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.defs.landing import WRITER_POOL, staging_key
from mianshen_pipeline.defs.themes import theme_key
from mianshen_pipeline.delivery import (
    build_disclosure,
    build_entitlements,
    build_payout,
    build_push,
    sha256_file,
)
from mianshen_pipeline.resources import PipelineSettings, Warehouse
from mianshen_pipeline.security import masked_preview

TIMEZONE = "Asia/Shanghai"
PREVIEW_ROWS = 5

# Every policy of one cycle shares a partitions definition, so that the nightly job can run
# them together. A card's effective_from date bounds the cycles in which it pays.
PARTITIONS: dict[Cycle, dg.PartitionsDefinition] = {
    Cycle.DAILY: dg.DailyPartitionsDefinition(
        start_date="2016-01-01", timezone=TIMEZONE, end_offset=1
    ),
    Cycle.MONTHLY: dg.MonthlyPartitionsDefinition(
        start_date="2016-01", fmt="%Y-%m", timezone=TIMEZONE, end_offset=1
    ),
    # strftime has no quarter directive, so quarters are a static list of keys.
    Cycle.QUARTERLY: dg.StaticPartitionsDefinition(
        [f"{year}-Q{quarter}" for year in range(2016, 2041) for quarter in range(1, 5)]
    ),
    Cycle.YEARLY: dg.TimeWindowPartitionsDefinition(
        start="2016", fmt="%Y", cron_schedule="0 0 1 1 *", timezone=TIMEZONE, end_offset=1
    ),
}


def cohort_key(card: PolicyCard) -> dg.AssetKey:
    return dg.AssetKey(["cohort", card.id])


def payout_key(card: PolicyCard) -> dg.AssetKey:
    return dg.AssetKey(["payout", card.id])


def push_key(card: PolicyCard) -> dg.AssetKey:
    return dg.AssetKey(["push", card.id])


def _preview(con, card: PolicyCard, cycle: str) -> list[dict]:
    cursor = con.execute(
        f"SELECT subject_id, subject_name, amount FROM {cohort_table(card)} WHERE cycle = ? "
        f"ORDER BY subject_id LIMIT {PREVIEW_ROWS}",
        [cycle],
    )
    rows = [dict(zip(("subject_id", "subject_name", "amount"), r, strict=True))
            for r in cursor.fetchall()]
    return masked_preview(rows, {"subject_id": "id", "subject_name": "name", "amount": None})


def build_cohort_asset(card: PolicyCard) -> dg.AssetsDefinition:
    contracts = load_contracts()
    deps = [theme_key(t) for t in card.needs.themes] + [
        staging_key(contracts[key]) for key in card.needs.datasets
    ]
    key = cohort_key(card)

    @dg.asset(
        key=key,
        deps=deps,
        partitions_def=PARTITIONS[card.cycle],
        group_name="cohorts",
        pool=WRITER_POOL,
        kinds={"duckdb", "sql"},
        description=f"Subjects eligible for {card.name} ({card.name_en}) in the cycle.",
        metadata={"policy_id": card.id, "mode": card.mode.value, "cycle": card.cycle.value,
                  "rule": f"sql/policies/{card.rule}", "table": f"cohort.{card.id}"},
        check_specs=[
            dg.AssetCheckSpec(
                "eligible_have_amount", asset=key, blocking=True,
                description="Every eligible subject has a positive amount (policies that pay).",
            ),
            dg.AssetCheckSpec(
                "cohort_change_within_limit", asset=key,
                description=f"Warns when more than {card.max_cohort_change:.0%} of the previous "
                "cycle's cohort entered or left.",
            ),
        ],
    )
    def _cohort(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        window = cycle_window(card.cycle, context.partition_key)
        with warehouse.session() as con:
            missing = missing_datasets(con, card)
            if missing:
                raise dg.Failure(
                    description=(
                        f"{card.id} {window.key}: no accepted drop yet of "
                        f"{', '.join(missing)}; the cohort is computed once the data arrives"
                    ),
                    metadata={"missing_datasets": dg.MetadataValue.json(missing)},
                    allow_retries=False,
                )
            try:
                result = store_cohort(con, card, window, settings.served_district,
                                      context.run_id, as_of_from_tags(context.run.tags))
            except PolicyError as exc:
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            bad_amounts = 0
            preview = []
            if result.in_force and card.pays:
                bad_amounts = con.execute(
                    f"SELECT count(*) FROM {cohort_table(card)} WHERE cycle = ? AND "
                    "(amount IS NULL OR amount <= 0)", [window.key]
                ).fetchone()[0]
            if result.in_force:
                preview = _preview(con, card, window.key)
        context.log.info(
            f"{card.id} {window.key}: {result.eligible} eligible of {result.candidates} "
            f"candidates, {result.amount_total:.2f} yuan"
        )
        return dg.MaterializeResult(
            metadata={
                "cycle": window.key,
                "in_force": result.in_force,
                "candidates": result.candidates,
                "eligible": result.eligible,
                "dagster/row_count": result.eligible,
                "amount_total": dg.MetadataValue.float(round(result.amount_total, 2)),
                "failed_by_condition": dg.MetadataValue.json(result.failed_by_condition),
                "previous_cycle": result.previous_cycle or "-",
                "new_entrants": result.new_entrants,
                "continuing": result.continuing,
                "leavers": result.leavers,
                "parameters": dg.MetadataValue.json(
                    json.loads(json.dumps(result.parameters, default=str))
                ),
                "preview": dg.MetadataValue.json(preview),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="eligible_have_amount", passed=bad_amounts == 0,
                    metadata={"eligible_without_amount": bad_amounts, "pays": card.pays},
                ),
                dg.AssetCheckResult(
                    check_name="cohort_change_within_limit",
                    passed=result.change_share <= card.max_cohort_change,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"change_share": round(result.change_share, 4),
                              "limit": card.max_cohort_change,
                              "new_entrants": result.new_entrants,
                              "leavers": result.leavers},
                ),
            ],
        )

    return _cohort


def _manifest_matches(path, manifest_path) -> tuple[bool, dict]:
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    with path.open(encoding="utf-8", newline="") as fh:
        # Count CSV records, not lines: a quoted value may span lines.
        lines = sum(1 for _ in csv.reader(fh)) - 1
    actual = {"sha256": sha256_file(path), "rows": lines}
    expected = {"sha256": manifest["sha256"], "rows": manifest["rows"]}
    return actual == expected, {"expected": expected, "actual": actual}


def build_payout_asset(card: PolicyCard) -> dg.AssetsDefinition:
    key = payout_key(card)

    @dg.asset(
        key=key,
        deps=[cohort_key(card)],
        partitions_def=PARTITIONS[card.cycle],
        group_name="delivery",
        pool=WRITER_POOL,
        kinds={"csv", "duckdb"},
        description=(f"Payout file for finance: {card.name}, one line per payable subject"
                     + (", once confirmed." if card.mode == Mode.CONFIRM else ".")),
        metadata={"policy_id": card.id, "outbox": f"finance/{card.id}/<cycle>/payout.csv"},
        check_specs=[
            dg.AssetCheckSpec("file_matches_manifest", asset=key, blocking=True,
                              description="The payout file's sha256 and rows match its "
                              "manifest."),
            dg.AssetCheckSpec("one_line_per_subject", asset=key, blocking=True,
                              description="No subject is paid twice for a period in one "
                              "file; a failed line comes back only in a later file."),
            dg.AssetCheckSpec("within_budget", asset=key, blocking=True,
                              description=f"The cycle's total is at most the budget ceiling "
                              f"of {card.budget_ceiling:,.2f} yuan; otherwise nothing is "
                              "released."),
        ],
    )
    def _payout(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        window = cycle_window(card.cycle, context.partition_key)
        with warehouse.session() as con:
            result = build_payout(con, settings.paths, card, window, context.run_id)
            repeated = con.execute(
                "SELECT count(*) FROM (SELECT subject_id, period FROM delivery.payout_ledger "
                "WHERE batch = ? GROUP BY subject_id, period HAVING count(*) > 1)",
                [f"{card.id}/{window.key}"],
            ).fetchone()[0]
        budget = dg.AssetCheckResult(
            check_name="within_budget", passed=result.over_budget_by is None,
            metadata={"amount_total": result.amount_total,
                      "budget_ceiling": f"{card.budget_ceiling:.2f}",
                      "over_budget_by": result.over_budget_by or "0.00"},
        )
        if result.over_budget_by is not None:
            context.log.error(
                f"{card.id} {window.key}: total {result.amount_total} yuan exceeds the budget "
                f"ceiling by {result.over_budget_by} yuan; no payout file was released"
            )
            return dg.MaterializeResult(
                metadata={"lines": result.lines, "amount_total": result.amount_total,
                          "released": False},
                check_results=[
                    budget,
                    dg.AssetCheckResult(check_name="file_matches_manifest", passed=True,
                                        metadata={"detail": "no file released"}),
                    dg.AssetCheckResult(check_name="one_line_per_subject", passed=True,
                                        metadata={"detail": "no file released"}),
                ],
            )
        matches, detail = _manifest_matches(result.path, result.manifest)
        if result.without_account:
            context.log.warning(
                f"{card.id} {window.key}: {result.without_account} eligible subjects have no "
                "account to pay into and get a reminder instead"
            )
        return dg.MaterializeResult(
            metadata={
                "lines": result.lines,
                "amount_total": result.amount_total,
                "released": True,
                "eligible_without_account": result.without_account,
                "path": dg.MetadataValue.path(str(result.path)),
                "manifest": dg.MetadataValue.path(str(result.manifest)),
            },
            check_results=[
                budget,
                dg.AssetCheckResult(check_name="file_matches_manifest", passed=matches,
                                    metadata={"detail": dg.MetadataValue.json(detail)}),
                dg.AssetCheckResult(check_name="one_line_per_subject", passed=repeated == 0,
                                    metadata={"repeated_subjects": repeated}),
            ],
        )

    return _payout


def build_push_asset(card: PolicyCard) -> dg.AssetsDefinition:
    deps = [cohort_key(card)] + ([payout_key(card)] if card.mode == Mode.DIRECT else [])

    @dg.asset(
        key=push_key(card),
        deps=deps,
        partitions_def=PARTITIONS[card.cycle],
        group_name="delivery",
        pool=WRITER_POOL,
        kinds={"json"},
        description=f"Messages for the message centre: {card.name}, rendered from templates.",
        metadata={"policy_id": card.id, "channel": card.push.channel,
                  "outbox": f"message_center/{card.id}/<cycle>/push.jsonl"},
    )
    def _push(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        window = cycle_window(card.cycle, context.partition_key)
        with warehouse.session() as con:
            result = build_push(con, settings.paths, card, window, context.run_id,
                                as_of_from_tags(context.run.tags))
        return dg.MaterializeResult(
            metadata={
                "messages": result.messages,
                "by_template": dg.MetadataValue.json(result.by_template),
                "path": dg.MetadataValue.path(str(result.path)),
                "manifest": dg.MetadataValue.path(str(result.manifest)),
            }
        )

    return _push


def disclosure_key(card: PolicyCard) -> dg.AssetKey:
    return dg.AssetKey(["disclosure", card.id])


def entitlements_key(card: PolicyCard) -> dg.AssetKey:
    return dg.AssetKey(["suishenma", card.id])


def build_disclosure_asset(card: PolicyCard) -> dg.AssetsDefinition:
    deps = [cohort_key(card)] + ([payout_key(card)] if card.mode == Mode.DIRECT else [])

    @dg.asset(
        key=disclosure_key(card),
        deps=deps,
        partitions_def=PARTITIONS[card.cycle],
        group_name="delivery",
        pool=WRITER_POOL,
        kinds={"csv", "duckdb"},
        description=f"Public disclosure list (信息公示) of {card.name}, names and IDs masked.",
        metadata={"policy_id": card.id, "outbox": f"public/{card.id}/<cycle>/disclosure.csv",
                  "notice_working_days": card.notice_working_days},
    )
    def _disclosure(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        window = cycle_window(card.cycle, context.partition_key)
        notice_from = as_of_from_tags(context.run.tags)
        notice_until, _ = WorkingCalendar().add_working_days(notice_from,
                                                             card.notice_working_days)
        with warehouse.session() as con:
            result = build_disclosure(con, settings.paths, card, window, context.run_id,
                                      notice_from, notice_until)
        return dg.MaterializeResult(metadata={
            "rows": result.rows, "notice_until": notice_until.isoformat(),
            "path": dg.MetadataValue.path(str(result.path)),
        })

    return _disclosure


def build_entitlements_asset(card: PolicyCard) -> dg.AssetsDefinition:
    @dg.asset(
        key=entitlements_key(card),
        deps=[cohort_key(card)],
        partitions_def=PARTITIONS[card.cycle],
        group_name="delivery",
        pool=WRITER_POOL,
        kinds={"parquet", "duckdb"},
        description=f"QR-code entitlement list of {card.name}, keyed by a keyed HMAC of the ID.",
        metadata={"policy_id": card.id, "outbox": f"suishenma/<cycle>/{card.id}.parquet"},
    )
    def _entitlements(
        context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        window = cycle_window(card.cycle, context.partition_key)
        with warehouse.session() as con:
            result = build_entitlements(con, settings.paths, card, window, context.run_id,
                                        settings.pseudonym_secret)
        return dg.MaterializeResult(metadata={
            "rows": result.rows, "path": dg.MetadataValue.path(str(result.path)),
        })

    return _entitlements


def policy_asset_keys(card: PolicyCard) -> list[dg.AssetKey]:
    """List the assets a card yields: its cohort, then a payout file, push messages and a
    disclosure list for a policy that pays, or the entitlement list for a QR policy."""
    keys = [cohort_key(card)]
    if card.pays:
        keys += [payout_key(card), push_key(card), disclosure_key(card)]
    if card.mode == Mode.QR:
        keys.append(entitlements_key(card))
    return keys


def policy_assets() -> list[dg.AssetsDefinition]:
    builders = {cohort_key: build_cohort_asset, payout_key: build_payout_asset,
                push_key: build_push_asset, disclosure_key: build_disclosure_asset,
                entitlements_key: build_entitlements_asset}
    assets = []
    for card in load_catalogue().values():
        wanted = set(policy_asset_keys(card))
        assets += [build(card) for key_of, build in builders.items() if key_of(card) in wanted]
    return assets
