"""The ingestion job the landing sensor launches, and the nightly cycle job with its schedule."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from mianshen_pipeline.catalogue import Cycle
from mianshen_pipeline.clock import AS_OF_TAG
from mianshen_pipeline.cohorts import cycle_key
from mianshen_pipeline.defs.policies import PARTITIONS

TIMEZONE = "Asia/Shanghai"
NIGHTLY_JOB = "nightly_cycle"

ingest_job = dg.define_asset_job(
    "ingest_drops",
    selection=dg.AssetSelection.groups("landing", "staging"),
    description="Receive, check and stage complete drops; launched by the landing sensor.",
)

# Landing, staging and themes are not partitioned, so they run in every nightly run. The
# monthly policies run for the partition of the month that contains the as-of date.
nightly_job = dg.define_asset_job(
    NIGHTLY_JOB,
    selection=(
        dg.AssetSelection.groups(
            "landing", "staging", "quality", "themes", "cohorts", "delivery"
        )
    ),
    partitions_def=PARTITIONS[Cycle.MONTHLY],
    description="Ingest every complete drop, rebuild the themes and run the month's policies.",
)


def nightly_run_request(as_of: dt.date) -> dg.RunRequest:
    """Return the run request of the nightly cycle as of a local date."""
    return dg.RunRequest(
        partition_key=cycle_key(Cycle.MONTHLY, as_of),
        tags={AS_OF_TAG: as_of.isoformat()},
    )


@dg.schedule(
    name="nightly_schedule",
    job=nightly_job,
    cron_schedule="0 1 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Runs the nightly cycle at 01:00 Asia/Shanghai for the month of that day.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time or dt.datetime.now(ZoneInfo(TIMEZONE))
    return nightly_run_request(scheduled.astimezone(ZoneInfo(TIMEZONE)).date())
