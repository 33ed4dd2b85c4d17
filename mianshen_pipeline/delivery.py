"""Files for downstream systems: payout files for finance and push messages for the message
centre, each written under a temporary name, renamed, and described by a ``manifest.json``.

Payout files list one line per eligible subject who has an account to pay into, ordered by
subject, with amounts in yuan and two decimals. The same cohort always yields the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from mianshen_pipeline import clock
from mianshen_pipeline.catalogue import Mode, PolicyCard
from mianshen_pipeline.cohorts import CycleWindow, cohort_table
from mianshen_pipeline.paths import ASSETS_DIR, Home
from mianshen_pipeline.security import pseudonym
from mianshen_pipeline.warehouse import quote_literal, read_sql, table_exists

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYOUT_COLUMNS = ("line_no", "policy_id", "period", "payee_type", "payee_id", "payee_name",
                  "bank_name", "account_no", "amount", "idempotency_key")
_PUSH_BATCH = 10_000

_templates = Environment(
    loader=FileSystemLoader(ASSETS_DIR / "templates"),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def outbox_dir(home: Home, system: str, card: PolicyCard, window: CycleWindow) -> Path:
    return home.outbox / system / card.id / window.key


def write_manifest(path: Path, data_file: Path, rows: int, run_id: str, extra: dict) -> Path:
    """Write ``manifest.json`` beside ``data_file``, itself under a temporary name first."""
    manifest = {
        "file": data_file.name,
        "rows": rows,
        "sha256": sha256_file(data_file),
        **extra,
        "generated_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "run_id": run_id,
    }
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path


@dataclass
class PayoutResult:
    """The payout file of one cycle and its control totals."""

    path: Path | None
    manifest: Path | None
    lines: int
    amount_total: str
    without_account: int
    over_budget_by: str | None = None


def _cohort_source(con: duckdb.DuckDBPyConnection, card: PolicyCard) -> str:
    """Return the cohort table, or an empty stand-in when no cycle was ever in force."""
    if table_exists(con, "cohort", card.id):
        return cohort_table(card)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _no_cohort (cycle VARCHAR, subject_id VARCHAR, "
        "subject_name VARCHAR, payee_id VARCHAR, payee_name VARCHAR, amount DECIMAL(18, 2), "
        "new_entrant BOOLEAN, group_codes VARCHAR)"
    )
    return "_no_cohort"


def build_payout(
    con: duckdb.DuckDBPyConnection, home: Home, card: PolicyCard, window: CycleWindow,
    run_id: str,
) -> PayoutResult:
    """Issue the cycle's new payout lines into the ledger, then write the cycle's file.

    Lines already in the ledger, from any earlier run, are never issued again. The ledger is
    committed before the file is written, and the file is written from the ledger alone, so
    a run that crashes in between is repaired by the next one, byte for byte.
    """
    batch = f"{card.id}/{window.key}"
    confirmed = card.mode == Mode.CONFIRM
    sql = _delivery_sql("payout_confirmed" if confirmed else "payout", card,
                        _cohort_source(con, card))
    params: dict = {"cycle": window.key, "policy_id": card.id,
                    "payee_type": card.service_object}
    if confirmed:
        params["cycle_start"] = window.start
    con.execute(f"CREATE OR REPLACE TEMP TABLE _payout_candidates AS {sql}", params)
    # A subject with an open objection for the period is held until it is resolved.
    con.execute(
        "DELETE FROM _payout_candidates c WHERE EXISTS (SELECT 1 FROM "
        "staging.two_pages__objections o WHERE o.policy_id = c.policy_id AND "
        "o.cycle = c.period AND o.subject_id = c.subject_id AND o.resolved_at IS NULL)"
    )
    without_account = con.execute(
        "SELECT count(*) FROM _payout_candidates WHERE account_no IS NULL"
    ).fetchone()[0]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _payout_new AS SELECT * FROM _payout_candidates "
        "WHERE account_no IS NOT NULL AND idempotency_key NOT IN "
        "(SELECT idempotency_key FROM delivery.payout_ledger)"
    )
    _failed_lines_to_retry(con, card, batch)
    issued_total, new_total = con.execute(
        "SELECT (SELECT coalesce(sum(amount), 0) FROM delivery.payout_ledger WHERE batch = ?), "
        "(SELECT coalesce(sum(amount), 0) FROM _payout_new) "
        "+ (SELECT coalesce(sum(amount), 0) FROM _payout_retry)", [batch]
    ).fetchone()
    total = Decimal(issued_total) + Decimal(new_total)
    ceiling = Decimal(str(card.budget_ceiling))
    if total > ceiling:
        # A cycle over its budget ceiling is not released: nothing reaches the outbox.
        lines = con.execute("SELECT count(*) FROM _payout_new").fetchone()[0]
        return PayoutResult(None, None, lines, f"{total:.2f}", without_account,
                            over_budget_by=f"{total - ceiling:.2f}")

    con.execute("BEGIN TRANSACTION")
    con.execute(
        """
        INSERT INTO delivery.payout_ledger BY NAME
        SELECT idempotency_key, attempt, policy_id, period, subject_id, payee_type, payee_id,
               payee_name, bank_name, account_no, amount, $batch AS batch,
               (SELECT coalesce(max(line_no), 0) FROM delivery.payout_ledger
                WHERE batch = $batch)
                   + row_number() OVER (ORDER BY attempt, payee_id, idempotency_key)
                   AS line_no,
               'issued' AS status, $run_id AS issued_run_id, $issued_at AS issued_at
        FROM (
            SELECT 1 AS attempt, idempotency_key, policy_id, period, subject_id, payee_type,
                   payee_id, payee_name, bank_name, account_no, amount FROM _payout_new
            UNION ALL
            SELECT attempt, idempotency_key, policy_id, period, subject_id, payee_type,
                   payee_id, payee_name, bank_name, account_no, amount FROM _payout_retry
        )
        """,
        {"batch": batch, "run_id": run_id, "issued_at": clock.now()},
    )
    con.execute("COMMIT")

    folder = outbox_dir(home, "finance", card, window)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "payout.csv"
    partial = folder / ".payout.csv.tmp"
    columns = ", ".join(
        f"csv_safe({c}) AS {c}" if c in ("payee_name", "bank_name") else c
        for c in PAYOUT_COLUMNS
    )
    con.execute(
        f"COPY (SELECT {columns} FROM delivery.payout_ledger WHERE batch = $batch "
        "ORDER BY line_no) TO $path (FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')",
        {"batch": batch, "path": str(partial)},
    )
    os.replace(partial, target)
    lines, file_total = con.execute(
        "SELECT count(*), CAST(coalesce(sum(amount), 0) AS DECIMAL(18, 2)) "
        "FROM delivery.payout_ledger WHERE batch = ?", [batch]
    ).fetchone()
    amount_total = f"{file_total:.2f}"
    manifest = write_manifest(
        folder / "manifest.json", target, lines, run_id,
        {"policy_id": card.id, "period": window.key, "amount_total": amount_total,
         "currency": "CNY"},
    )
    return PayoutResult(target, manifest, lines, amount_total, without_account)


# The account each kind of payee is paid into: a person's social security card with status
# normal, or an enterprise's basic account from the register.
_CURRENT_ACCOUNTS = {
    "person": "SELECT id_no AS payee_id, bank_name, account_no FROM "
              "staging.hrss__social_security_cards WHERE card_status = 'normal'",
    "legal_entity": "SELECT uscc AS payee_id, bank_name, account_no FROM theme.legal_entity "
                    "WHERE account_no IS NOT NULL",
}


def _delivery_sql(name: str, card: PolicyCard, cohort: str) -> str:
    """Read ``sql/delivery/<name>.sql`` with the cohort and the card's payee accounts."""
    accounts = f"({_CURRENT_ACCOUNTS[card.service_object]})"
    return read_sql(f"delivery/{name}.sql").replace("{cohort}", cohort).replace(
        "{accounts}", accounts
    )


def _failed_lines_to_retry(
    con: duckdb.DuckDBPyConnection, card: PolicyCard, batch: str
) -> None:
    """Build ``_payout_retry``: lines finance reported failed after their latest attempt,
    issued in an earlier cycle's file, whose payee now has another account."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _payout_retry AS
        WITH latest AS (
            SELECT * FROM delivery.payout_ledger WHERE policy_id = $policy_id
            QUALIFY row_number() OVER (PARTITION BY idempotency_key ORDER BY attempt DESC) = 1
        )
        SELECT l.attempt + 1 AS attempt, l.idempotency_key, l.policy_id, l.period,
               l.subject_id, l.payee_type, l.payee_id, l.payee_name,
               a.bank_name, a.account_no, l.amount
        FROM latest AS l
        JOIN staging.finance__payment_results AS r
            ON r.idempotency_key = l.idempotency_key AND r.status = 'failed'
        JOIN landing.drops AS d
            ON d.drop_id = r._drop_id AND d.received_at > l.issued_at
        JOIN ({_CURRENT_ACCOUNTS[card.service_object]}) AS a
            ON a.payee_id = l.payee_id AND a.account_no <> l.account_no
        WHERE l.batch <> $batch
        """,
        {"policy_id": card.id, "batch": batch},
    )


@dataclass
class PushResult:
    """The push file of one cycle."""

    path: Path
    manifest: Path
    messages: int
    by_template: dict[str, int]


def render_message(template_name: str, context: dict) -> tuple[str, str]:
    """Render the ``title`` and ``body`` blocks of one message template."""
    template = _templates.get_template(template_name)
    ctx = template.new_context(context)
    title = "".join(template.blocks["title"](ctx)).strip()
    body = "".join(template.blocks["body"](ctx)).strip()
    return title, body


def build_push(
    con: duckdb.DuckDBPyConnection, home: Home, card: PolicyCard, window: CycleWindow,
    run_id: str, as_of: dt.date | None = None,
) -> PushResult:
    """Write one message per eligible subject: a payout notice, or a reminder to fix the
    account when the subject has nothing to pay into."""
    folder = outbox_dir(home, "message_center", card, window)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "push.jsonl"
    partial = folder / ".push.jsonl.tmp"
    counts: dict[str, int] = {}
    pushed_on = as_of or dt.datetime.now(SHANGHAI).date()
    deadline = pushed_on + dt.timedelta(days=card.confirm_days)
    log_rows: list[list] = []

    source = _cohort_source(con, card)
    if card.push.audience == "new_entrants" and source != "_no_cohort":
        source = f"(SELECT * FROM {source} WHERE new_entrant)"
    if card.push.frequency == "once" and source != "_no_cohort":
        # A subject messaged in an earlier cycle is not messaged again.
        source = (
            f"(SELECT * FROM {source} AS o WHERE NOT EXISTS (SELECT 1 FROM delivery.push_log "
            f"AS p WHERE p.policy_id = {quote_literal(card.id)} AND p.subject_id = o.subject_id "
            "AND p.cycle < o.cycle))"
        )
    if card.mode == Mode.CONFIRM and source != "_no_cohort":
        # A subject who already confirmed or declined this cycle is not asked again.
        source = (
            f"(SELECT * FROM {source} AS s WHERE NOT EXISTS (SELECT 1 FROM "
            "staging.two_pages__confirmations AS k WHERE k.policy_id = "
            f"{quote_literal(card.id)} AND k.cycle = s.cycle AND k.subject_id = s.subject_id))"
        )
    cursor = con.execute(_delivery_sql("push", card, source), {"cycle": window.key})
    names = [d[0] for d in cursor.description]

    with partial.open("w", encoding="utf-8", newline="\n") as out:
        while batch := cursor.fetchmany(_PUSH_BATCH):
            for values in batch:
                row = dict(zip(names, values, strict=True))
                kind = _template_for(card, row["has_account"])
                title, body = render_message(
                    card.push.templates[kind],
                    {**row, "cycle": window.key, "policy_name": card.name,
                     "hotline": card.hotline, "amount": f"{row['amount']:.2f}"},
                )
                message = {
                    "message_id": _message_id(card.id, window.key, row["subject_id"], kind),
                    "policy_id": card.id,
                    "cycle": window.key,
                    "recipient_type": card.service_object,
                    "recipient_id": row["recipient_id"],
                    "channel": card.push.channel,
                    "mode": card.mode.value,
                    "template": kind,
                    "title": title,
                    "body": body,
                }
                out.write(json.dumps(message, ensure_ascii=False) + "\n")
                counts[kind] = counts.get(kind, 0) + 1
                log_rows.append([card.id, window.key, row["subject_id"], row["recipient_id"],
                                 kind, message["message_id"], pushed_on,
                                 deadline if kind == "confirm_request" else None, run_id])
    os.replace(partial, target)
    _log_pushes(con, log_rows)
    total = sum(counts.values())
    manifest = write_manifest(
        folder / "manifest.json", target, total, run_id,
        {"policy_id": card.id, "cycle": window.key, "messages_by_template": counts},
    )
    return PushResult(target, manifest, total, counts)


def _log_pushes(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """Record messages not pushed before, so a re-run keeps the first request's deadline."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _push_rows AS SELECT * FROM delivery.push_log WHERE false"
    )
    if rows:
        con.executemany("INSERT INTO _push_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "INSERT INTO delivery.push_log SELECT * FROM _push_rows n WHERE NOT EXISTS ("
        "SELECT 1 FROM delivery.push_log p WHERE p.policy_id = n.policy_id AND "
        "p.cycle = n.cycle AND p.subject_id = n.subject_id AND p.template = n.template)"
    )


def _template_for(card: PolicyCard, has_account: bool) -> str:
    """Choose the message: a confirmation request, a payout notice or an account reminder."""
    if card.mode == Mode.CONFIRM:
        return "confirm_request"
    return "payout_notice" if has_account else "account_reminder"


def _message_id(policy_id: str, cycle: str, subject: str, kind: str) -> str:
    text = f"{policy_id}|{cycle}|{subject}|{kind}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _write_query_csv(con: duckdb.DuckDBPyConnection, sql: str, params: dict,
                     target: Path) -> int:
    partial = target.with_name("." + target.name + ".tmp")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _export AS {sql}", params)
    con.execute("COPY _export TO $path (FORMAT csv, HEADER true)", {"path": str(partial)})
    os.replace(partial, target)
    return con.execute("SELECT count(*) FROM _export").fetchone()[0]


@dataclass
class FileResult:
    """Result of one delivered file: its path, its manifest and its row count."""

    path: Path
    manifest: Path
    rows: int


def build_disclosure(
    con: duckdb.DuckDBPyConnection, home: Home, card: PolicyCard, window: CycleWindow,
    run_id: str, notice_from: dt.date, notice_until: dt.date,
) -> FileResult:
    """Write the masked public disclosure list (信息公示) of a cycle."""
    folder = home.outbox / "public" / card.id / window.key
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "disclosure.csv"
    sql = read_sql(f"delivery/disclosure_{card.service_object}.sql").replace(
        "{cohort}", _cohort_source(con, card)
    )
    rows = _write_query_csv(con, sql, {"cycle": window.key, "policy_id": card.id}, target)
    manifest = write_manifest(
        folder / "manifest.json", target, rows, run_id,
        {"policy_id": card.id, "cycle": window.key, "notice_from": notice_from.isoformat(),
         "notice_until": notice_until.isoformat()},
    )
    return FileResult(target, manifest, rows)


def build_entitlements(
    con: duckdb.DuckDBPyConnection, home: Home, card: PolicyCard, window: CycleWindow,
    run_id: str, key: bytes,
) -> FileResult:
    """Write the QR-code entitlement list: a keyed HMAC of the ID number, the group codes and
    the validity dates, and nothing else personal."""
    folder = home.outbox / "suishenma" / window.key
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{card.id}.parquet"
    partial = folder / f".{card.id}.parquet.tmp"
    con.create_function(
        "_pseudonym", lambda values: pa.array([pseudonym(v, key) for v in values.to_pylist()]),
        ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False,
    )
    try:
        con.execute(
            f"""
            COPY (
                SELECT _pseudonym(subject_id) AS subject_key, $policy_id AS policy_id,
                       string_split(group_codes, ',') AS group_codes,
                       CAST($valid_from AS DATE) AS valid_from,
                       CAST($valid_until AS DATE) AS valid_until
                FROM {_cohort_source(con, card)}
                WHERE cycle = $cycle
                ORDER BY subject_key
            ) TO $path (FORMAT parquet)
            """,
            {"policy_id": card.id, "cycle": window.key, "valid_from": window.start,
             "valid_until": window.end, "path": str(partial)},
        )
    finally:
        con.remove_function("_pseudonym")
    os.replace(partial, target)
    rows = con.execute("SELECT count(*) FROM read_parquet($path)",
                       {"path": str(target)}).fetchone()[0]
    manifest = write_manifest(
        folder / f"{card.id}.manifest.json", target, rows, run_id,
        {"policy_id": card.id, "cycle": window.key, "key": "HMAC-SHA256 of the ID number"},
    )
    return FileResult(target, manifest, rows)

