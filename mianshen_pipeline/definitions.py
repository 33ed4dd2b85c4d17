"""The Dagster code location: every asset, check, job, schedule, sensor and resource."""

import dagster as dg

from mianshen_pipeline.defs.jobs import build_nightly_jobs, build_schedule, ingest_job
from mianshen_pipeline.defs.landing import build_landing_sensor, landing_assets
from mianshen_pipeline.defs.policies import policy_assets
from mianshen_pipeline.defs.public import public_catalogue
from mianshen_pipeline.defs.quality import sla_data_requests
from mianshen_pipeline.defs.reporting import reconciliation, reporting_job, reporting_schedule
from mianshen_pipeline.defs.themes import theme_assets
from mianshen_pipeline.resources import resources_from_env


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """Assemble the definitions, with resources from the environment unless given."""
    nightly = build_nightly_jobs()
    return dg.Definitions(
        assets=[*landing_assets(), sla_data_requests, *theme_assets(), *policy_assets(),
                public_catalogue, reconciliation],
        jobs=[ingest_job, *(n.job for n in nightly), reporting_job],
        schedules=[*(build_schedule(n) for n in nightly), reporting_schedule],
        sensors=[build_landing_sensor(ingest_job)],
        resources=resources or resources_from_env(),
    )


defs = build_definitions()
