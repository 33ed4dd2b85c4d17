"""Writers of real department files in every accepted format, for tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from stdnum.cn import ric


def make_id(area: str, birth: dt.date, sequence: int) -> str:
    """Return a valid 18-digit resident ID (odd sequence for men, even for women)."""
    body = f"{area}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def drop(landing: Path, dataset: str, name: str) -> Path:
    folder = landing / dataset
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def mark(path: Path) -> Path:
    path.with_name(path.name + ".ok").write_bytes(b"")
    return path


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return mark(path)


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return mark(path)


def write_parquet(path: Path, header: list[str], rows: list[list]) -> Path:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in header]
    table = pa.table({name: list(values) for name, values in zip(header, columns, strict=True)})
    pq.write_table(table, path)
    return mark(path)


def write_jsonl(path: Path, header: list[str], rows: list[list]) -> Path:
    lines = [json.dumps(dict(zip(header, row, strict=True)), ensure_ascii=False,
                        default=str) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mark(path)
