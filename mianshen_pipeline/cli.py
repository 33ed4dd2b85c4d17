"""The ``mianshen`` command line: sample drops, the nightly cycle, the UI and drop checks."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from mianshen_pipeline.paths import PROJECT_DIR, Home, home_from_env

RESETTABLE = ("landing", "archive", "quarantine", "receipts", "warehouse", "outbox", "reports",
              "dagster", "sample_defects.json")


def _home() -> Home:
    return Home(home_from_env()).ensure()


def _dagster_home(home: Home) -> Path:
    from mianshen_pipeline.runner import ensure_dagster_home

    path = Path(os.environ.get("DAGSTER_HOME") or home.dagster_home).resolve()
    os.environ["DAGSTER_HOME"] = str(path)
    return ensure_dagster_home(path)


@click.group()
def main() -> None:
    """Mianshen pipeline: benefits without application (免申即享).

    Every command works on the runtime home MIANSHEN_HOME (default ./var).
    """


@main.command()
@click.option("--persons", default=20000, show_default=True, type=click.IntRange(min=10),
              help="Number of persons in the household register.")
@click.option("--seed", default=7, show_default=True, type=int,
              help="Random seed; the same seed writes the same files.")
@click.option("--defect-share", default=0.01, show_default=True,
              type=click.FloatRange(0, 0.5), help="Share of rows per dataset with a defect.")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date the sample world is generated for (default: today in Shanghai).")
@click.option("--reset", is_flag=True,
              help="Delete the home's landing, archive, warehouse and outputs first.")
def sample(persons: int, seed: int, defect_share: float, as_of: dt.datetime | None,
           reset: bool) -> None:
    """Write realistic department drops into the landing zone."""
    from mianshen_pipeline.sample import generate_world, write_drops

    home = Home(home_from_env())
    if reset:
        for name in RESETTABLE:
            target = home.root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    home.ensure()
    world = generate_world(persons=persons, seed=seed,
                           as_of=as_of.date() if as_of else None)
    written = write_drops(world, home.landing, defect_share=defect_share, seed=seed)
    for key, path in sorted(written.items()):
        click.echo(f"{key:40} {path.relative_to(home.root)}")
    click.echo(f"Wrote {len(written)} drops for {persons} persons into {home.landing}")


@main.command()
@click.option("--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="As-of date YYYY-MM-DD (default: today in Asia/Shanghai).")
@click.option("--verbose", is_flag=True, help="Print Dagster's event log at INFO level.")
def cycle(as_of: dt.datetime | None, verbose: bool) -> None:
    """Ingest every complete drop and run the nightly cycle as of a date."""
    import dagster as dg

    from mianshen_pipeline.clock import today_in_shanghai
    from mianshen_pipeline.runner import (
        CLI_TAG,
        CycleError,
        cycle_lock,
        format_summary,
        release_dead_runs,
        run_cycle,
    )

    home = _home()
    _dagster_home(home)
    day = as_of.date() if as_of else today_in_shanghai()
    try:
        with cycle_lock(home), dg.DagsterInstance.get() as instance:
            for run_id in release_dead_runs(instance):
                click.echo(f"marked run {run_id[:8]} failed: its process ended while it ran, "
                           "and its concurrency slot is free again", err=True)
            summary = run_cycle(day, instance, log_level="INFO" if verbose else "CRITICAL",
                                tags={CLI_TAG: "cli"})
    except CycleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_summary(summary, home))
    if not summary.success:
        sys.exit(1)


@main.command()
@click.option("--port", default=3000, show_default=True, type=int, help="Port of the web UI.")
def ui(port: int) -> None:
    """Start the Dagster UI and daemon on the same home (dagster dev)."""
    home = _home()
    _dagster_home(home)
    os.environ["MIANSHEN_HOME"] = str(home.root)
    command = [str(Path(sys.executable).with_name("dagster")), "dev", "-w",
               str(PROJECT_DIR / "workspace.yaml"), "-p", str(port), "-h", "127.0.0.1"]
    sys.exit(subprocess.call(command, cwd=PROJECT_DIR))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Dataset as department/dataset.")
def check(file: Path, dataset: str) -> None:
    """Check a file against its dataset contract before dropping it."""
    from mianshen_pipeline.checking import check_file

    report, accepted = check_file(file, dataset, Home(home_from_env()).warehouse)
    click.echo(report)
    if not accepted:
        sys.exit(1)



@main.group()
def drops() -> None:
    """Inspect and release drops."""


@drops.command("list")
@click.option("--status", type=click.Choice(["received", "accepted", "rejected", "held"]),
              help="Only drops with this status.")
def drops_list(status: str | None) -> None:
    """List received drops with their status and row counts."""
    from mianshen_pipeline.warehouse import connect

    home = _home()
    with connect(home.warehouse) as con:
        rows = con.execute(
            "SELECT drop_id, department || '/' || dataset, file_name, status, rows_read, "
            "rows_accepted, rows_quarantined, strftime(received_at, '%Y-%m-%d %H:%M') "
            "FROM landing.drops WHERE $status IS NULL OR status = $status ORDER BY drop_seq",
            {"status": status},
        ).fetchall()
    for row in rows:
        click.echo("  ".join("-" if v is None else str(v) for v in row))


@drops.command("release")
@click.argument("drop_id")
def drops_release(drop_id: str) -> None:
    """Apply a snapshot drop that was held for review because it shrank."""
    from mianshen_pipeline.warehouse import connect

    home = _home()
    with connect(home.warehouse) as con:
        found = con.execute(
            "SELECT department || '/' || dataset, status FROM landing.drops WHERE drop_id = ?",
            [drop_id],
        ).fetchall()
        if not found:
            raise click.ClickException(f"drop {drop_id} not found; see `mianshen drops list`")
        if [status for _, status in found] != ["held"]:
            raise click.ClickException(
                f"drop {drop_id} is {', '.join(s for _, s in found)}; only a held drop can be "
                "released"
            )
        con.execute("UPDATE landing.drops SET status = 'accepted' WHERE drop_id = ? AND "
                    "status = 'held'", [drop_id])
    click.echo(f"released drop {drop_id} of {found[0][0]}; the next cycle applies it")


@main.group()
def quality() -> None:
    """Great Expectations suites of the dataset contracts."""


@quality.command("suites")
@click.option("--dataset", help="Only this department/dataset.")
def quality_suites(dataset: str | None) -> None:
    """Derive each dataset's suite from its contract and write it under data_quality/."""
    from mianshen_pipeline.contracts import load_contracts
    from mianshen_pipeline.suites import write_suite

    for key, contract in sorted(load_contracts().items()):
        if dataset in (None, key):
            click.echo(f"{key:40} {write_suite(contract).relative_to(PROJECT_DIR)}")


@main.group()
def policy() -> None:
    """Policy cards and their example cases."""


@policy.command("test")
@click.argument("policy_id", required=False)
def policy_test(policy_id: str | None) -> None:
    """Run the example cases of one policy, or of all, against the real rule SQL."""
    from mianshen_pipeline.policy_cases import CaseFileError, run_all

    try:
        results = run_all(policy_id)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from exc
    except CaseFileError as exc:
        raise click.ClickException(str(exc)) from exc
    failures = 0
    for policy_name, case, mismatches in results:
        if mismatches:
            failures += 1
            click.echo(f"FAIL {policy_name}: {case}")
            for mismatch in mismatches:
                click.echo(f"     {mismatch.describe()}")
        else:
            click.echo(f"ok   {policy_name}: {case}")
    click.echo(f"{len(results) - failures} passed, {failures} failed")
    if failures or not results:
        sys.exit(1)


def _served_district() -> str:
    from mianshen_pipeline.resources import DEFAULT_SERVED_DISTRICT

    return os.environ.get("MIANSHEN_SERVED_DISTRICT", DEFAULT_SERVED_DISTRICT)


@main.command()
@click.option("--policy", "policy_id", required=True, help="Policy id, e.g. elderly_allowance.")
@click.option("--cycle", "cycle_key", required=True, help="Cycle key, e.g. 2026-11.")
@click.option("--subject", required=True, help="Resident ID number or credit code.")
def explain(policy_id: str, cycle_key: str, subject: str) -> None:
    """Explain one subject's eligibility for a policy in a cycle, condition by condition."""
    from mianshen_pipeline.catalogue import load_catalogue
    from mianshen_pipeline.explain import explain as run_explain
    from mianshen_pipeline.explain import format_explanation
    from mianshen_pipeline.identifiers import check_credit_code, check_resident_id
    from mianshen_pipeline.security import mask_id
    from mianshen_pipeline.warehouse import connect

    cards = load_catalogue()
    if policy_id not in cards:
        raise click.ClickException(f"no policy {policy_id!r}; known: {', '.join(sorted(cards))}")
    normalised = check_resident_id(subject).value or check_credit_code(subject).value or subject
    home = _home()
    with connect(home.warehouse) as con:
        result = run_explain(con, cards[policy_id], cycle_key, normalised, _served_district())
        click.echo(format_explanation(result, mask_id(normalised)))


@main.command()
@click.argument("subject")
@click.option("--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="As-of date YYYY-MM-DD (default: today in Asia/Shanghai).")
def checkup(subject: str, as_of: dt.datetime | None) -> None:
    """Check one person or enterprise against every policy (政策体检)."""
    from mianshen_pipeline.clock import today_in_shanghai
    from mianshen_pipeline.explain import checkup as run_checkup
    from mianshen_pipeline.explain import format_checkup
    from mianshen_pipeline.identifiers import check_credit_code, check_resident_id
    from mianshen_pipeline.security import mask_id
    from mianshen_pipeline.warehouse import connect

    normalised = check_resident_id(subject).value or check_credit_code(subject).value or subject
    home = _home()
    day = as_of.date() if as_of else today_in_shanghai()
    with connect(home.warehouse) as con:
        results = run_checkup(con, normalised, _served_district(), day)
    click.echo(format_checkup(results, mask_id(normalised)))
