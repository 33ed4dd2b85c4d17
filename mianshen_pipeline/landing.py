"""The landing zone: find complete drops, archive them byte for byte, check and load them.

A file at ``landing/<department>/<dataset>/<file>`` is complete when a ``<file>.ok`` marker or
a ``<file>.manifest.json`` with a matching sha256 is beside it, or when it has not been
modified for the configured number of seconds. Its drop id is derived from its content
hash, so a re-delivered file is recognised and not applied twice.

Each drop is first moved to ``archive/`` and recorded as received; only then is it checked.
A crash after that point leaves the drop in status ``received``, and the next ingestion
processes it again from the archive, so nothing received is ever lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from mianshen_pipeline import clock
from mianshen_pipeline.contracts import DatasetContract
from mianshen_pipeline.decoding import Decoded, UnreadableFile, decode
from mianshen_pipeline.paths import Home
from mianshen_pipeline.quality import CheckedDrop, RejectedDrop, check_drop, quarantine_all
from mianshen_pipeline.receipts import build_findings, record_redelivery, write_receipt
from mianshen_pipeline.suites import ExpectationOutcome
from mianshen_pipeline.warehouse import quote_ident, table_exists

SHANGHAI = ZoneInfo("Asia/Shanghai")
MARKER_SUFFIXES = (".ok", ".manifest.json")
_IGNORED_PREFIXES = (".", "~$")
_IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")
DROP_ID_LENGTH = 16

Logger = Callable[[str], None]


def _silent(message: str) -> None:
    del message


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CompleteFile:
    """A file in the landing zone that is complete and may be ingested."""

    path: Path
    markers: tuple[Path, ...]
    why: str


def is_candidate(path: Path) -> bool:
    """Return whether ``path`` is a data file rather than a marker, hidden or partial file."""
    name = path.name
    return (
        path.is_file()
        and not path.is_symlink()
        and not name.lower().endswith(MARKER_SUFFIXES)
        and not name.startswith(_IGNORED_PREFIXES)
        and not name.endswith(_IGNORED_SUFFIXES)
    )


def _marker(path: Path, suffix: str) -> Path:
    """Return the marker beside ``path``, matching the suffix in any letter case."""
    exact = path.with_name(path.name + suffix)
    if exact.exists():
        return exact
    for candidate in path.parent.glob(path.name + ".*"):
        if candidate.name.lower() == (path.name + suffix).lower():
            return candidate
    return exact


def _manifest_sha256(manifest: Path) -> str | None:
    try:
        value = json.loads(manifest.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return value.lower() if isinstance(value, str) else None


def find_complete_files(
    dataset_dir: Path, stable_seconds: float, now: float | None = None
) -> list[CompleteFile]:
    """List the complete files in one dataset's landing folder, oldest first."""
    if not dataset_dir.is_dir():
        return []
    now = dt.datetime.now().timestamp() if now is None else now
    found = []
    for path in dataset_dir.iterdir():
        if not is_candidate(path):
            continue
        ok = _marker(path, ".ok")
        manifest = _marker(path, ".manifest.json")
        markers = tuple(m for m in (ok, manifest) if m.exists())
        stat = path.stat()
        stable = now - stat.st_mtime >= stable_seconds
        if ok.exists():
            found.append(CompleteFile(path, markers, "marker .ok"))
        elif manifest.exists():
            if _manifest_sha256(manifest) == sha256_of(path):
                found.append(CompleteFile(path, markers, "manifest sha256 matches"))
            elif stable:
                # A manifest that never matches is still ingested, and rejected with the reason.
                found.append(CompleteFile(path, markers, "manifest sha256 does not match"))
        elif stable:
            found.append(CompleteFile(path, markers, f"unchanged for {stable_seconds:g} s"))
    return sorted(found, key=lambda f: (f.path.stat().st_mtime, f.path.name))


@dataclass
class DropOutcome:
    """Outcome of one drop, for Dagster metadata and the CLI summary."""

    drop_id: str
    dataset: str
    file_name: str
    status: str
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_unchanged: int = 0
    error: str | None = None
    receipt: Path | None = None
    warnings: list[str] = field(default_factory=list)
    expectations: list[ExpectationOutcome] = field(default_factory=list)


def _now() -> dt.datetime:
    return clock.now()


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError:
        shutil.move(str(source), str(target))


def display_name(name: str) -> str:
    """Return a file name that can be stored and shown, whatever bytes it was given in.

    Linux hands Python undecodable name bytes as surrogates. A name from a Windows archive is
    usually GBK, so that is tried before the bytes are escaped.
    """
    raw = os.fsencode(name)
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "backslashreplace")


def receive(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    contract: DatasetContract,
    complete: CompleteFile,
    run_id: str | None,
) -> tuple[str, bool]:
    """Archive one complete file and record it; return its drop id and whether it is new.

    The records are written in the same transaction as the files are moved, and committed
    only after the move, so a failure at any point leaves the file in the landing zone.
    """
    digest = sha256_of(complete.path)
    drop_id = digest[:DROP_ID_LENGTH]
    arrived_at = _now()
    name = display_name(complete.path.name)
    existing = con.execute(
        "SELECT drop_id FROM landing.drops WHERE department = ? AND dataset = ? AND sha256 = ?",
        [contract.department, contract.dataset, digest],
    ).fetchone()
    archive_dir = home.archive / contract.department / contract.dataset / drop_id
    if existing:
        # The same bytes are already archived; keep the re-delivered copy on record too.
        target_dir = archive_dir / "redelivered" / arrived_at.strftime("%Y%m%dT%H%M%S%f")
    else:
        target_dir = archive_dir
    moves = [(path, target_dir / display_name(path.name))
             for path in (complete.path, *complete.markers)]

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO landing.deliveries VALUES (?, ?, ?, ?, ?, ?, ?)",
            [drop_id, contract.department, contract.dataset, name, arrived_at,
             existing is not None, run_id],
        )
        if not existing:
            con.execute(
                "INSERT INTO landing.drops (drop_seq, drop_id, department, dataset, "
                "file_name, sha256, size_bytes, received_at, archived_path, status, run_id) "
                "VALUES (nextval('landing.drop_seq'), ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?)",
                [drop_id, contract.department, contract.dataset, name, digest,
                 complete.path.stat().st_size, arrived_at, str(moves[0][1]), run_id],
            )
        for source, target in moves:
            _move(source, target)
    except BaseException:
        con.execute("ROLLBACK")
        for source, target in moves:
            if target.exists() and not source.exists():
                _move(target, source)
        raise
    con.execute("COMMIT")
    return drop_id, existing is None


def raw_table(contract: DatasetContract) -> str:
    return f"raw.{quote_ident(contract.table)}"


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> None:
    """Create the dataset's raw table, or add columns a newer contract version declares."""
    if not table_exists(con, "raw", contract.table):
        columns = ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in contract.columns)
        con.execute(
            f"CREATE TABLE {raw_table(contract)} (_drop_seq BIGINT NOT NULL, "
            f"_drop_id VARCHAR NOT NULL, _row BIGINT NOT NULL, {columns})"
        )
        return
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'raw' "
            "AND table_name = ?",
            [contract.table],
        ).fetchall()
    }
    for col in contract.columns:
        if col.name not in present:
            con.execute(
                f"ALTER TABLE {raw_table(contract)} ADD COLUMN {quote_ident(col.name)} "
                f"{col.sql_type}"
            )


@dataclass
class Inspection:
    """A drop decoded and checked, but not yet applied."""

    decoded: Decoded
    checked: CheckedDrop


def inspect(
    con: duckdb.DuckDBPyConnection, path: Path, contract: DatasetContract, workdir: Path,
    as_of: dt.date, display_name: str | None = None,
) -> Inspection:
    """Decode and check a file against its contract as of a date; raise if it is rejected
    whole. A ``RejectedDrop`` raised after decoding carries the decoded file as ``decoded``.
    """
    name = display_name or path.name
    decoded = decode(con, path, "_drop_raw", workdir)
    try:
        if decoded.format not in contract.formats:
            raise RejectedDrop(
                f"{name}: format {decoded.format} is not accepted for {contract.key}; deliver "
                f"{' or '.join(contract.formats)}"
            )
        if contract.load == "snapshot" and decoded.rows_read == 0:
            raise RejectedDrop(
                f"{name}: the snapshot contains no data rows; a snapshot must list every record"
            )
        checked = check_drop(con, decoded, contract, name, as_of)
    except RejectedDrop as exc:
        exc.decoded = decoded
        raise
    total = checked.accepted + checked.quarantined
    if total != decoded.rows_read:
        raise AssertionError(
            f"{name}: row accounting broken: read {decoded.rows_read}, accepted "
            f"{checked.accepted} + quarantined {checked.quarantined}"
        )
    return Inspection(decoded, checked)


def _check_manifest(archived: Path, sha: str, file_name: str) -> None:
    """Reject a drop whose manifest names another sha256 than the bytes received."""
    manifest = _marker(archived, ".manifest.json")
    if not manifest.exists():
        return
    declared = _manifest_sha256(manifest)
    if declared != sha:
        raise UnreadableFile(
            f"{file_name}: its manifest gives sha256 {declared or '(none)'} but the file "
            f"received has {sha}; the transfer is incomplete or the manifest is stale. "
            "Deliver the file and its manifest again"
        )


def _previous_snapshot_rows(
    con: duckdb.DuckDBPyConnection, contract: DatasetContract
) -> tuple[str, int] | None:
    return con.execute(
        "SELECT drop_id, rows_accepted FROM landing.drops WHERE department = ? AND dataset = ? "
        "AND status = 'accepted' ORDER BY drop_seq DESC LIMIT 1",
        [contract.department, contract.dataset],
    ).fetchone()


def _mark_unchanged(con: duckdb.DuckDBPyConnection, contract: DatasetContract) -> int:
    """Flag accepted rows identical to the current state of their key; return how many.

    A corrected re-delivery (another encoding, other number formatting) has a new file hash
    but the same business content, so it is recognised here, on the primary key.
    """
    key = " AND ".join(f"a.{quote_ident(k)} = cur.{quote_ident(k)}"
                       for k in contract.primary_key)
    values = ", ".join(quote_ident(c.name) for c in contract.columns)
    ensure_raw_table(con, contract)
    partition = ", ".join(quote_ident(k) for k in contract.primary_key)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _accepted AS
        WITH current_rows AS (
            SELECT {values} FROM {raw_table(contract)}
            WHERE _drop_seq IN (SELECT drop_seq FROM landing.drops WHERE department = ?
                                AND dataset = ? AND status = 'accepted')
            QUALIFY row_number() OVER (PARTITION BY {partition}
                                       ORDER BY _drop_seq DESC, _row DESC) = 1
        )
        SELECT a.*, cur.{quote_ident(contract.primary_key[0])} IS NOT NULL AS _unchanged
        FROM _accepted a
        LEFT JOIN current_rows cur
            ON {key} AND hash(row({', '.join('a.' + quote_ident(c.name)
                                             for c in contract.columns)}))
                       = hash(row({', '.join('cur.' + quote_ident(c.name)
                                             for c in contract.columns)}))
        ORDER BY a._row
        """,
        [contract.department, contract.dataset],
    )
    return con.execute("SELECT count(*) FROM _accepted WHERE _unchanged").fetchone()[0]


def _process(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    contract: DatasetContract,
    drop: tuple,
    run_id: str | None,
    log: Logger,
) -> DropOutcome:
    drop_seq, drop_id, file_name, archived_path, sha, received_at = drop
    archived = Path(archived_path)
    outcome = DropOutcome(drop_id, contract.key, file_name, "rejected")
    receipt_info = {
        "drop_id": drop_id, "department": contract.department, "dataset": contract.dataset,
        "file_name": file_name, "sha256": sha, "size_bytes": archived.stat().st_size,
        "received_at": received_at.isoformat(),
    }
    inspection = None
    decoded = None
    with tempfile.TemporaryDirectory(prefix="mianshen-") as workdir:
        try:
            _check_manifest(archived, sha, file_name)
            inspection = inspect(con, archived, contract, Path(workdir),
                                 received_at.astimezone(SHANGHAI).date(), file_name)
            decoded = inspection.decoded
            outcome.expectations = inspection.checked.expectations
        except UnreadableFile as exc:
            outcome.error = str(exc)
        except RejectedDrop as exc:
            outcome.error = str(exc)
            outcome.expectations = exc.expectations
            decoded = getattr(exc, "decoded", None)

    status = "rejected"
    if inspection is not None:
        checked = inspection.checked
        outcome.rows_accepted = checked.accepted
        outcome.rows_quarantined = checked.quarantined
        outcome.rows_unchanged = _mark_unchanged(con, contract)
        status = "accepted"
        previous = _previous_snapshot_rows(con, contract) if contract.load == "snapshot" else None
        if previous and previous[1] and checked.accepted < previous[1] * (1 - contract.max_shrink):
            status = "held"
            outcome.error = (
                f"{file_name}: the snapshot has {checked.accepted} valid rows, "
                f"{1 - checked.accepted / previous[1]:.0%} fewer than the {previous[1]} of drop "
                f"{previous[0]} (at most {contract.max_shrink:.0%} fewer is expected); it is "
                "held for review and not applied. Deliver the complete snapshot, or release "
                f"the drop with `mianshen drops release {drop_id}` if the shrink is real"
            )
        if checked.header_map.unknown:
            outcome.warnings.append(
                "columns not in the contract were ignored: "
                + ", ".join(checked.header_map.unknown)
            )
        if contract.load == "delta" and checked.accepted and (
            outcome.rows_unchanged == checked.accepted
        ):
            outcome.warnings.append(
                "every accepted row is identical to data already received; nothing new was "
                "applied"
            )
    elif decoded is not None:
        outcome.rows_quarantined = quarantine_all(con, decoded, outcome.error or "rejected")
    outcome.status = status
    outcome.rows_read = decoded.rows_read if decoded is not None else 0

    con.execute("BEGIN TRANSACTION")
    if inspection is not None:
        ensure_raw_table(con, contract)
        columns = ", ".join(quote_ident(c.name) for c in contract.columns)
        # A delta row identical to the current state of its key is not applied again; a
        # snapshot keeps every row, because it replaces the whole dataset.
        skip = "WHERE NOT _unchanged" if contract.load == "delta" else ""
        con.execute(
            f"INSERT INTO {raw_table(contract)} (_drop_seq, _drop_id, _row, {columns}) "
            f"SELECT ?, ?, _row, {columns} FROM _accepted {skip}",
            [drop_seq, drop_id],
        )
    con.execute(
        "UPDATE landing.drops SET status = ?, format = ?, encoding = ?, rows_read = ?, "
        "rows_accepted = ?, rows_quarantined = ?, error = ?, processed_at = ?, run_id = ? "
        "WHERE department = ? AND dataset = ? AND drop_id = ?",
        [status, decoded.format if decoded else None, decoded.encoding if decoded else None,
         outcome.rows_read, outcome.rows_accepted, outcome.rows_quarantined, outcome.error,
         _now(), run_id, contract.department, contract.dataset, drop_id],
    )
    con.execute("COMMIT")

    findings = None
    if decoded is not None:
        findings = build_findings(con)
        if outcome.rows_quarantined:
            _write_quarantine(con, home, contract, drop_id)
    log(
        f"{contract.key} drop {drop_id} ({file_name}) {status}: read {outcome.rows_read}, "
        f"accepted {outcome.rows_accepted}, quarantined {outcome.rows_quarantined}"
        + (f"; {outcome.error}" if outcome.error else "")
    )

    receipt_info.update(
        status=status,
        format=decoded.format if decoded else None,
        encoding=decoded.encoding if decoded else None,
        rows={"read": outcome.rows_read, "accepted": outcome.rows_accepted,
              "quarantined": outcome.rows_quarantined, "unchanged": outcome.rows_unchanged},
        error=outcome.error,
        warnings=outcome.warnings,
        expectations=[o.as_dict() for o in outcome.expectations],
    )
    outcome.receipt = write_receipt(home, con, receipt_info, findings)
    return outcome


def _write_quarantine(
    con: duckdb.DuckDBPyConnection, home: Home, contract: DatasetContract, drop_id: str
) -> Path:
    target = home.quarantine / contract.department / contract.dataset / f"{drop_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    con.execute(
        "COPY (SELECT * FROM _quarantined ORDER BY _row) TO $path (FORMAT parquet)",
        {"path": str(partial)},
    )
    os.replace(partial, target)
    return target


def ingest_dataset(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    contract: DatasetContract,
    *,
    stable_seconds: float,
    run_id: str | None = None,
    log: Logger = _silent,
) -> list[DropOutcome]:
    """Receive every complete file of one dataset, then check and load each pending drop."""
    dataset_dir = home.landing / contract.department / contract.dataset
    outcomes = []
    for complete in find_complete_files(dataset_dir, stable_seconds):
        drop_id, new = receive(con, home, contract, complete, run_id)
        if not new:
            log(f"{contract.key}: {complete.path.name} is a re-delivery of drop {drop_id}; "
                "not applied again")
            outcomes.append(DropOutcome(
                drop_id, contract.key, complete.path.name, "redelivered",
                receipt=record_redelivery(home, con, contract.department, drop_id),
            ))

    pending = con.execute(
        "SELECT drop_seq, drop_id, file_name, archived_path, sha256, received_at "
        "FROM landing.drops WHERE department = ? AND dataset = ? AND status = 'received' "
        "ORDER BY drop_seq",
        [contract.department, contract.dataset],
    ).fetchall()
    for drop in pending:
        outcomes.append(_process(con, home, contract, drop, run_id, log))
    return outcomes


def find_unrouted(landing: Path, contracts: list[DatasetContract]) -> list[str]:
    """List files in the landing zone that no ingestion will pick up, relative to it.

    These are files outside every ``<department>/<dataset>/`` folder of a contract, files in
    subfolders of such a folder, and symbolic links, which are not followed because the
    archive must hold the bytes themselves.
    """
    routed = {(c.department, c.dataset) for c in contracts}
    found = []
    if not landing.is_dir():
        return found
    for path in sorted(landing.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        parts = path.relative_to(landing).parts
        name = path.name
        if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES):
            continue
        if path.is_symlink() or len(parts) != 3 or tuple(parts[:2]) not in routed:
            found.append(display_name(str(path.relative_to(landing))))
    return found

