"""Decode one dropped file into a DuckDB table of text columns, one row per record.

Every format ends up in the same shape: a temporary table whose columns are the file's own
headers (all VARCHAR) plus ``_row``. That is the record's position as a department would find
it: the line of a CSV or JSON lines file, the row of a worksheet, the record of a Parquet
file. Records that cannot be parsed at all (a line with too few fields, a JSON line
that is not an object) are returned separately as malformed so they can be quarantined.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from mianshen_pipeline.warehouse import quote_ident

FORMAT_BY_SUFFIX = {
    ".csv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_CHUNK = 1 << 20
_XLSX_BATCH = 50_000
_DELIMITERS = (",", "\t", "|", ";")


class UnreadableFile(ValueError):
    """A file that cannot be read at all; the whole drop is rejected with this message."""


@dataclass
class Malformed:
    """A record the parser could not split into fields."""

    row: int
    reason: str
    text: str


@dataclass
class Decoded:
    """A dropped file decoded into the table ``table``."""

    table: str
    format: str
    encoding: str | None
    headers: list[str]
    records: int
    malformed: list[Malformed] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.records + len(self.malformed)


def detect_format(path: Path) -> str:
    """Return the format of a dropped file from its extension."""
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        if path.suffix.lower() in (".xls", ".et", ".numbers"):
            raise UnreadableFile(
                f"{path.name}: the old {path.suffix} workbook format is not accepted; save it "
                "as .xlsx or export it as UTF-8 .csv"
            )
        raise UnreadableFile(
            f"{path.name}: extension {path.suffix or '(none)'} is not an accepted format; "
            "deliver .csv, .xlsx, .parquet or .jsonl"
        )
    return fmt


def detect_encoding(path: Path) -> str:
    """Return ``utf-8-sig``, ``utf-8`` or ``gb18030`` for a text file, trying UTF-8 first.

    The whole file is decoded in chunks, so a GBK byte far into the file is still found and a
    file is never read into memory at once.
    """
    with path.open("rb") as fh:
        sample = fh.read(4096)
    head = sample[:4]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        sample.count(0) > len(sample) // 4
    ):
        raise UnreadableFile(
            f"{path.name}: the file is UTF-16; save it as UTF-8 (or GBK) and deliver it again"
        )
    if head.startswith(codecs.BOM_UTF8):
        offset = _first_invalid_byte(path, "utf-8-sig")
        if offset is not None:
            raise UnreadableFile(
                f"{path.name}: starts with a UTF-8 byte order mark but byte {offset} is not "
                "UTF-8; export the file again as UTF-8"
            )
        return "utf-8-sig"
    utf8_offset = _first_invalid_byte(path, "utf-8")
    if utf8_offset is None:
        return "utf-8"
    if _first_invalid_byte(path, "gb18030") is None:
        return "gb18030"
    size = path.stat().st_size
    if utf8_offset >= size - 3:
        raise UnreadableFile(
            f"{path.name}: the file ends in the middle of a UTF-8 character, so it was cut "
            "during the transfer; deliver it again"
        )
    raise UnreadableFile(
        f"{path.name}: byte {utf8_offset} is neither UTF-8 nor GBK/GB18030 text; the file may "
        "be binary or damaged. Export it again as UTF-8 CSV"
    )


def _first_invalid_byte(path: Path, encoding: str) -> int | None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    position = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return position + exc.start
            position += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return position
    return None


def _to_utf8(path: Path, encoding: str, workdir: Path) -> Path:
    """Return a UTF-8 copy of ``path`` (or ``path`` itself when it already is UTF-8)."""
    if encoding in ("utf-8", "utf-8-sig"):
        return path
    target = workdir / (path.name + ".utf8")
    with path.open("r", encoding=encoding, newline="") as src, target.open(
        "w", encoding="utf-8", newline=""
    ) as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
    return target


def _read_header(path: Path) -> tuple[list[str], str]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise UnreadableFile(f"{path.name}: the first line is empty; it must hold the headers")
    delimiter = max(_DELIMITERS, key=first.count)
    headers = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    return [h.strip() for h in headers], delimiter


def _unique_headers(headers: list[str], name: str) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for position, header in enumerate(headers, start=1):
        label = header or f"column_{position}"
        if label in seen:
            raise UnreadableFile(
                f"{name}: header {label!r} appears twice (columns {seen[label]} and {position}); "
                "every column needs its own header"
            )
        seen[label] = position
        result.append(label)
    return result


def decode(con: duckdb.DuckDBPyConnection, path: Path, table: str, workdir: Path) -> Decoded:
    """Decode ``path`` into the temporary table ``table``; raise ``UnreadableFile`` if hopeless."""
    if path.stat().st_size == 0:
        raise UnreadableFile(f"{path.name}: the file is empty (0 bytes)")
    fmt = detect_format(path)
    reader = {"csv": _decode_csv, "xlsx": _decode_xlsx, "parquet": _decode_parquet,
              "jsonl": _decode_jsonl}[fmt]
    try:
        return reader(con, path, table, workdir)
    except UnreadableFile:
        raise
    except (duckdb.Error, zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:300].replace(str(path), path.name)
        raise UnreadableFile(
            f"{path.name}: cannot be read as {fmt} ({type(exc).__name__}: {detail}); the "
            "file may be truncated. Deliver it again"
        ) from exc


def _decode_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str, workdir: Path) -> Decoded:
    encoding = detect_encoding(path)
    utf8 = _to_utf8(path, encoding, workdir)
    try:
        headers, delimiter = _read_header(utf8)
        headers = _unique_headers(headers, path.name)
        columns = {f"c{i}": "VARCHAR" for i in range(len(headers))}
        con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
        # The dialect is fixed rather than sniffed, because DuckDB's sniffer gives up on a file
        # whose last record is truncated, and such a file must still yield its good records.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(table + '_parsed')} AS "
            "SELECT * FROM read_csv($path, header = false, skip = 1, auto_detect = false, "
            "columns = $columns, delim = $delim, quote = '\"', escape = '\"', "
            "store_rejects = true, max_line_size = 10000000)",
            {"path": str(utf8), "columns": columns, "delim": delimiter},
        )
        rejects = con.execute(
            "SELECT line, any_value(error_type), any_value(csv_line) FROM reject_errors "
            "GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        if utf8 != path:
            utf8.unlink(missing_ok=True)

    malformed = [
        Malformed(int(line), _csv_error_reason(kind, len(headers)), (text or "")[:200])
        for line, kind, text in rejects
    ]
    _number_csv_records(con, table, headers, [m.row for m in malformed])
    records = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
    return Decoded(table, "csv", encoding, headers, records, malformed)


def _csv_error_reason(kind: str, expected: int) -> str:
    reasons = {
        "MISSING COLUMNS": f"has fewer fields than the {expected} headers; the line may be cut",
        "TOO MANY COLUMNS": f"has more fields than the {expected} headers; quote values that "
        "contain the delimiter",
        "UNQUOTED VALUE": "has a quote that is never closed; the file may be truncated",
        "LINE SIZE OVER MAXIMUM": "is longer than 10 MB",
        "INVALID ENCODING": "contains bytes that are not text in the file's encoding",
    }
    return reasons.get(kind, f"cannot be parsed as CSV ({kind.lower()})")


def _number_csv_records(
    con: duckdb.DuckDBPyConnection, table: str, headers: list[str], rejected_lines: list[int]
) -> None:
    """Give each parsed record the line it came from, skipping lines that were rejected.

    Line 1 is the header. The k-th parsed record sits on the k-th line after the header that
    was not rejected, so it is ``k + 1 + (rejected lines before it)``.
    NOTE: DuckDB skips blank lines without reporting them and counts a quoted value spanning
    lines as one line, so for files with either the numbers are record positions, not lines.
    """
    select = ", ".join(
        f"c{i} AS {quote_ident(header)}" for i, header in enumerate(headers)
    )
    parsed = quote_ident(table + "_parsed")
    con.execute("CREATE OR REPLACE TEMP TABLE _rejected_lines (position BIGINT)")
    if rejected_lines:
        con.executemany(
            "INSERT INTO _rejected_lines VALUES (?)", [[line - 1] for line in rejected_lines]
        )
    # For the j-th rejected position q_j, every parsed record k with k > q_j - j lies after it.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS
        WITH numbered AS (SELECT rowid + 1 AS k, * FROM {parsed}),
        gaps AS (
            SELECT position - row_number() OVER (ORDER BY position) AS threshold,
                   row_number() OVER (ORDER BY position) AS skipped
            FROM _rejected_lines
        ),
        steps AS (SELECT threshold, max(skipped) AS skipped FROM gaps GROUP BY threshold)
        SELECT numbered.k + 1 + coalesce(steps.skipped, 0) AS _row, {select}
        FROM numbered ASOF LEFT JOIN steps ON numbered.k > steps.threshold
        ORDER BY _row
        """
    )
    con.execute(f"DROP TABLE {parsed}")


def _xlsx_cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if value.is_integer() and abs(value) < 1e20:
            # Excel shows a long number with 15 significant digits and zeros after them.
            return str(int(Decimal(format(value, ".15g"))))
        return format(value, ".15g")
    text = str(value)
    return text if text.strip() else None


def _decode_xlsx(con: duckdb.DuckDBPyConnection, path: Path, table: str, workdir: Path) -> Decoded:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        headers: list[str] | None = None
        batch: list[list] = []
        created = False
        records = 0
        for excel_row, values in enumerate(rows, start=1):
            cells = [_xlsx_cell_text(v) for v in values]
            if headers is None:
                if any(cells):
                    headers = _unique_headers([(c or "").strip() for c in cells], path.name)
                continue
            if not any(cells):
                continue
            cells = (cells + [None] * len(headers))[: len(headers)]
            batch.append([excel_row, *cells])
            if len(batch) >= _XLSX_BATCH:
                _append_batch(con, table, headers, batch, created)
                created, records, batch = True, records + len(batch), []
        if headers is None:
            raise UnreadableFile(f"{path.name}: the first worksheet has no header row")
        _append_batch(con, table, headers, batch, created)
        records += len(batch)
    finally:
        workbook.close()
    return Decoded(table, "xlsx", None, headers, records)


def _append_batch(
    con: duckdb.DuckDBPyConnection, table: str, headers: list[str], batch: list[list], created: bool
) -> None:
    names = ["_row", *headers]
    columns = list(zip(*batch, strict=True)) if batch else [[] for _ in names]
    arrays = [pa.array(columns[0], pa.int64())] + [
        pa.array(col, pa.string()) for col in columns[1:]
    ]
    frame = pa.Table.from_arrays(arrays, names=names)
    con.register("_xlsx_batch", frame)
    try:
        if created:
            con.execute(f"INSERT INTO {quote_ident(table)} SELECT * FROM _xlsx_batch")
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS "
                        "SELECT * FROM _xlsx_batch")
    finally:
        con.unregister("_xlsx_batch")


def _decode_parquet(
    con: duckdb.DuckDBPyConnection, path: Path, table: str, workdir: Path
) -> Decoded:
    described = con.execute(
        "DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}
    ).fetchall()
    headers = _unique_headers([str(row[0]).strip() for row in described], path.name)
    casts = ", ".join(
        f"CAST({quote_ident(str(row[0]))} AS VARCHAR) AS {quote_ident(header)}"
        for row, header in zip(described, headers, strict=True)
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS "
        f"SELECT file_row_number + 1 AS _row, {casts} "
        "FROM read_parquet($path, file_row_number = true) ORDER BY _row",
        {"path": str(path)},
    )
    records = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
    return Decoded(table, "parquet", None, headers, records)


def _decode_jsonl(con: duckdb.DuckDBPyConnection, path: Path, table: str, workdir: Path) -> Decoded:
    encoding = detect_encoding(path)
    utf8 = _to_utf8(path, encoding, workdir)
    lines = quote_ident(table + "_lines")
    objects = quote_ident(table + "_objects")
    try:
        # Each physical line becomes one value: \x01 never occurs unescaped in valid JSON text.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT line FROM read_csv($path, "
            "columns = {'line': 'VARCHAR'}, header = false, auto_detect = false, "
            "delim = chr(1), quote = '', escape = '', max_line_size = 10000000)",
            {"path": str(utf8)},
        )
    finally:
        if utf8 != path:
            utf8.unlink(missing_ok=True)

    # A table keeps the file's order, so rowid + 1 is the line number (blank lines included).
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {objects} AS SELECT rowid + 1 AS _row, "
        "ltrim(line, chr(65279)) AS line, "
        "json_valid(line) AND json_type(CASE WHEN json_valid(line) THEN line END) = 'OBJECT' "
        f"AS ok FROM {lines}"
    )
    con.execute(f"DELETE FROM {objects} WHERE line IS NULL OR trim(line) = ''")
    bad = con.execute(
        f"SELECT _row, line FROM {objects} WHERE NOT ok ORDER BY _row"
    ).fetchall()
    malformed = [
        Malformed(int(row), "is not a JSON object; the line may be cut or hold invalid JSON",
                  (text or "")[:200])
        for row, text in bad
    ]
    keys = [
        row[0]
        for row in con.execute(
            f"SELECT key FROM (SELECT unnest(json_keys(line)) AS key, _row FROM {objects} "
            "WHERE ok) GROUP BY key ORDER BY min(_row), key"
        ).fetchall()
    ]
    headers = _unique_headers([k.strip() for k in keys], path.name)
    extracts = ", ".join(
        f"json_extract_string(line, {_json_path(key)}) AS {quote_ident(header)}"
        for key, header in zip(keys, headers, strict=True)
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS SELECT _row"
        f"{', ' + extracts if extracts else ''} FROM {objects} WHERE ok ORDER BY _row"
    )
    con.execute(f"DROP TABLE {lines}; DROP TABLE {objects}")
    records = con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
    return Decoded(table, "jsonl", encoding, headers, records, malformed)


def _json_path(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
    return f"'$.\"{escaped}\"'"
