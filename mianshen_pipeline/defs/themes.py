"""Theme table assets, one per theme, built by the SQL under ``sql/themes``."""

import dagster as dg

from mianshen_pipeline.contracts import load_contracts
from mianshen_pipeline.defs.landing import WRITER_POOL, staging_key
from mianshen_pipeline.reference import seed_reference
from mianshen_pipeline.resources import Warehouse
from mianshen_pipeline.themes import THEME_SPECS, ThemeSpec, build_theme


def theme_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["theme", name])


def build_theme_asset(spec: ThemeSpec) -> dg.AssetsDefinition:
    contracts = load_contracts()

    @dg.asset(
        key=theme_key(spec.name),
        deps=[staging_key(contracts[key]) for key in spec.datasets],
        group_name="themes",
        pool=WRITER_POOL,
        kinds={"duckdb", "sql"},
        description=f"Theme table {spec.title}.",
        metadata={"table": f"theme.{spec.name}", "sql": spec.sql_file},
    )
    def _theme(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session() as con:
            seed_reference(con)
            result = build_theme(con, spec)
        if result.undelivered:
            context.log.warning(
                f"theme.{spec.name} built without {', '.join(result.undelivered)}: no accepted "
                "drop yet"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "inputs_not_yet_delivered": dg.MetadataValue.json(result.undelivered),
            }
        )

    return _theme


def theme_assets() -> list[dg.AssetsDefinition]:
    return [build_theme_asset(spec) for spec in THEME_SPECS.values()]
