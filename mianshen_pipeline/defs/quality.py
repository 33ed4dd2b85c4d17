"""Timeliness assets: the data request SLA table and report."""

import dagster as dg
import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mianshen_pipeline.calendar import WorkingCalendar
from mianshen_pipeline.clock import as_of_from_tags
from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.defs.landing import WRITER_POOL, landing_key
from mianshen_pipeline.paths import ASSETS_DIR
from mianshen_pipeline.resources import PipelineSettings, Warehouse
from mianshen_pipeline.sla import build_sla, freshness

SLA_KEY = dg.AssetKey(["sla", "data_requests"])
_templates = Environment(loader=FileSystemLoader(ASSETS_DIR / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))


@dg.asset(
    key=SLA_KEY,
    deps=[landing_key(c) for c in load_contracts().values()],
    group_name="quality",
    pool=WRITER_POOL,
    kinds={"duckdb", "html"},
    description="Every data request against its due date, 15 working days after the request.",
    metadata={"table": "sla.data_requests", "report": "reports/sla/data_requests.html"},
    check_specs=[
        dg.AssetCheckSpec("no_overdue_requests", asset=SLA_KEY,
                          description="Warns on every request past its due date and not "
                          "yet delivered."),
        dg.AssetCheckSpec("due_dates_final", asset=SLA_KEY,
                          description="Warns when a due date falls in a year without an "
                          "announced holiday schedule, so it counts weekends only."),
    ],
)
def sla_data_requests(
    context: dg.AssetExecutionContext, settings: PipelineSettings, warehouse: Warehouse
) -> dg.MaterializeResult:
    as_of = as_of_from_tags(context.run.tags)
    calendar = WorkingCalendar()
    with warehouse.session() as con:
        rows = build_sla(con, as_of, calendar)
        fresh = [freshness(con, c, as_of, calendar) for c in load_contracts().values()]
    warnings = calendar.missing_override_warnings()
    for warning in warnings:
        context.log.warning(warning)

    departments = yaml.safe_load((ASSETS_DIR / "departments.yaml").read_text(encoding="utf-8"))
    report = settings.paths.reports / "sla" / "data_requests.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        _templates.get_template("sla_report.html.j2").render(
            as_of=as_of, requests=rows, freshness=fresh, warnings=warnings,
            departments=departments,
        ),
        encoding="utf-8",
    )
    overdue = [r for r in rows if r.status == "overdue"]
    for request in overdue:
        context.log.warning(
            f"data request {request.request_id} for {request.dataset} is overdue: due "
            f"{request.due_on}, {request.working_days_late} working days late"
        )
    counts = {status: sum(r.status == status for r in rows)
              for status in ("pending", "on_time", "late", "overdue")}
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "requests": len(rows),
            **{f"status_{k}": v for k, v in counts.items()},
            "report": dg.MetadataValue.path(str(report)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_overdue_requests", passed=not overdue,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"overdue": dg.MetadataValue.json({
                    r.request_id: {"dataset": r.dataset, "due_on": r.due_on.isoformat(),
                                   "working_days_late": r.working_days_late}
                    for r in overdue
                })},
            ),
            dg.AssetCheckResult(
                check_name="due_dates_final", passed=not warnings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"warnings": dg.MetadataValue.json(warnings)},
            ),
        ],
    )
