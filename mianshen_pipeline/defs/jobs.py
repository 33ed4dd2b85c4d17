"""The ingestion job the landing sensor launches, and the nightly jobs with their schedules.

The main nightly job ingests every complete drop, rebuilds the themes and runs the monthly
policies for the month that contains the as-of date. Policies on another cycle, or that
compute an earlier cycle than the current one, run in a nightly job of their own, because a
Dagster job has one partitions definition.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

from mianshen_pipeline.catalogue import Cycle, PolicyCard, load_catalogue
from mianshen_pipeline.clock import AS_OF_TAG
from mianshen_pipeline.cohorts import cycle_key, previous_cycle_key
from mianshen_pipeline.defs.policies import PARTITIONS, policy_asset_keys

TIMEZONE = "Asia/Shanghai"
NIGHTLY_JOB = "nightly_cycle"

ingest_job = dg.define_asset_job(
    "ingest_drops",
    selection=dg.AssetSelection.groups("landing", "staging"),
    description="Receive, check and stage complete drops; launched by the landing sensor.",
)


@dataclass(frozen=True)
class NightlyJob:
    """One nightly job: the cycle its policies compute and how many cycles they lag."""

    name: str
    cycle: Cycle
    lag: int
    job: object  # the unresolved asset job returned by dg.define_asset_job

    def partition_key(self, as_of: dt.date) -> str:
        key = cycle_key(self.cycle, as_of)
        for _ in range(self.lag):
            key = previous_cycle_key(self.cycle, key)
        return key

    def run_request(self, as_of: dt.date) -> dg.RunRequest:
        return dg.RunRequest(
            partition_key=self.partition_key(as_of),
            tags={AS_OF_TAG: as_of.isoformat()},
        )


def _job_name(cycle: Cycle, lag: int) -> str:
    if (cycle, lag) == (Cycle.MONTHLY, 0):
        return NIGHTLY_JOB
    return f"nightly_{cycle.value}" + (f"_previous_{lag}" if lag else "")


def build_nightly_jobs(cards: dict[str, PolicyCard] | None = None) -> list[NightlyJob]:
    """Group the policies by (cycle, lag) into jobs, the main nightly job first."""
    cards = load_catalogue() if cards is None else cards
    groups: dict[tuple[Cycle, int], list[PolicyCard]] = {(Cycle.MONTHLY, 0): []}
    for card in cards.values():
        groups.setdefault((card.cycle, card.cycle_lag), []).append(card)

    jobs = []
    for (cycle, lag), members in groups.items():
        keys = [key for card in members for key in policy_asset_keys(card)]
        selection = dg.AssetSelection.assets(*keys)
        description = f"Run the {cycle.value} policies" + (
            f" for the cycle {lag} before the current one" if lag else ""
        )
        if (cycle, lag) == (Cycle.MONTHLY, 0):
            selection = selection | dg.AssetSelection.groups(
                "landing", "staging", "quality", "themes", "public"
            )
            description = ("Ingest every complete drop, rebuild the themes and run the "
                           "month's policies")
        name = _job_name(cycle, lag)
        job = dg.define_asset_job(name, selection=selection, partitions_def=PARTITIONS[cycle],
                                  description=description + ".")
        jobs.append(NightlyJob(name, cycle, lag, job))
    return jobs


def build_schedule(nightly: NightlyJob) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"{nightly.name}_schedule" if nightly.name != NIGHTLY_JOB else "nightly_schedule",
        job=nightly.job,
        cron_schedule="0 1 * * *",
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Runs {nightly.name} at 01:00 Asia/Shanghai for the cycle of that day.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        scheduled = context.scheduled_execution_time or dt.datetime.now(ZoneInfo(TIMEZONE))
        return nightly.run_request(scheduled.astimezone(ZoneInfo(TIMEZONE)).date())

    return _schedule
