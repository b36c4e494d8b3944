"""Reading exported files back in tests: CSV (checks the BOM) and xlsx (openpyxl)."""

import csv
import io

from openpyxl import load_workbook


def body(response) -> bytes:
    """The bytes of a file response (streaming or not)."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def csv_rows(data) -> list[list[str]]:
    """Rows of a CSV export (a response or bytes); asserts the UTF-8 BOM Excel needs."""
    raw = data if isinstance(data, bytes) else body(data)
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV without a UTF-8 BOM"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def xlsx_rows(data) -> list[tuple]:
    """Rows of the first sheet of an xlsx export (a response or bytes)."""
    raw = data if isinstance(data, bytes) else body(data)
    workbook = load_workbook(io.BytesIO(raw), read_only=True)
    return list(workbook.active.iter_rows(values_only=True))
