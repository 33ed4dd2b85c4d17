"""The Dagster code location: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from mianshen_pipeline.defs.jobs import ingest_job, nightly_job, nightly_schedule
from mianshen_pipeline.defs.landing import build_landing_sensor, landing_assets
from mianshen_pipeline.defs.policies import policy_assets
from mianshen_pipeline.defs.quality import sla_data_requests
from mianshen_pipeline.defs.themes import theme_assets
from mianshen_pipeline.resources import resources_from_env


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """Assemble the definitions, with resources from the environment unless given."""
    return dg.Definitions(
        assets=[*landing_assets(), sla_data_requests, *theme_assets(), *policy_assets()],
        jobs=[ingest_job, nightly_job],
        schedules=[nightly_schedule],
        sensors=[build_landing_sensor(ingest_job)],
        resources=resources or resources_from_env(),
    )


defs = build_definitions()
