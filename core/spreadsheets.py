"""Reading uploaded spreadsheets (.xlsx/.xls/.ods and CSV) row by row, and cleaning messy cells.

Knows no domain app: the importers (customers/imports.py, sales/imports.py) declare their
columns with the cleaners below and core.importing runs them.

Formats are detected from the bytes, not the file name: a zip is an Office Open XML or ODF
workbook, an OLE compound file is an .xls (or an encrypted, i.e. password-protected, workbook),
anything else must be text: UTF-8 (with or without BOM) or GB18030 (a superset of GBK, which is
what Chinese Excel writes when it saves CSV).
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import IO

import python_calamine
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted Office file is an OLE container with an "EncryptionInfo" stream (UTF-16 name).
ENCRYPTED_MARKER = "EncryptionInfo".encode("utf-16-le")
CSV_DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024
# Text-like files that are not CSV, recognised by how they start (lower case): PDF and RTF
# documents, PostScript; and markup (HTML, XML, SVG) that would otherwise be read as one
# column of tags.
NOT_SPREADSHEET_MAGIC = (b"%pdf-", b"{\\rtf", b"%!ps")
MARKUP_MAGIC = (b"<!doctype", b"<html", b"<table", b"<?xml", b"<svg", b"<!--")


class UnusableFile(Exception):
    """The file cannot be imported at all (not a spreadsheet, empty, protected, ...). The
    message is translated and meant for the user."""


@dataclass
class Table:
    """The rows of the first non-empty sheet. `rows()` yields (row number as the user sees it,
    list of cell values); it can be called again (the error report re-reads the file)."""

    format: str
    height: int  # rows in the sheet, including the header and blank rows (for progress)
    _source: object
    _encoding: str = ""
    _delimiter: str = ","

    def rows(self) -> Iterator[tuple[int, list]]:
        if self.format == "csv":
            yield from self._csv_rows()
        else:
            yield from _sheet_rows(self._source)

    def _csv_rows(self):
        stream: IO[bytes] = self._source
        stream.seek(0)
        text = io.TextIOWrapper(stream, encoding=self._encoding, newline="")
        try:
            yield from enumerate(csv.reader(text, delimiter=self._delimiter), start=1)
        except csv.Error as exc:
            # A cell past the csv module's field limit (a 1 MB "cell": a binary or a document
            # renamed .csv) was a server error (found by customers/tests/test_import_views.py).
            raise UnusableFile(
                _(
                    "A cell of the file is longer than %(limit)d characters, so it is probably "
                    "not a CSV file. Save it from Excel as .xlsx or CSV and upload that."
                )
                % {"limit": csv.field_size_limit()}
            ) from exc
        finally:
            text.detach()


def _sheet_rows(sheet) -> Iterator[tuple[int, list]]:
    """Rows of a calamine sheet with merged cells filled: every cell of a merged range gets the
    range's value (a company name merged over its contacts' rows belongs to each of them)."""
    first_col = sheet.start[1] if sheet.start else 0
    fills: dict[int, list[tuple[int, int, int, object]]] = {}
    for (r1, c1), (r2, c2) in sheet.merged_cell_ranges or []:
        fills.setdefault(r1, []).append((r2, c1 - first_col, c2 - first_col, None))
    active: list[list] = []  # [last row, first col, last col, value]
    for index, row in enumerate(sheet.iter_rows()):
        row = list(row)
        for r2, c1, c2, _value in fills.pop(index, []):
            value = row[c1] if 0 <= c1 < len(row) else ""
            active.append([r2, c1, c2, value])
        if active:
            for _last, c1, c2, value in active:
                if c2 >= len(row):
                    row.extend([""] * (c2 + 1 - len(row)))
                for col in range(max(c1, 0), c2 + 1):
                    row[col] = value
            active = [span for span in active if span[0] > index]
        yield index + 1, row


def open_table(stream: IO[bytes]) -> Table:
    """Detect the format of `stream` (a binary file open for reading, seekable) and return its
    first non-empty sheet. Raises UnusableFile with a translated reason."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise UnusableFile(_("The file is empty."))
    if head.startswith(OLE_MAGIC):
        stream.seek(0)
        if ENCRYPTED_MARKER in stream.read(4 * 1024 * 1024):
            raise UnusableFile(
                _(
                    "The workbook is protected with a password. Remove the password in Excel and upload it again."
                )
            )
        return _open_workbook(stream, "xls")
    if head.startswith(ZIP_MAGIC):
        return _open_workbook(stream, "xlsx")
    if b"\x00" in head or _starts_with(head, NOT_SPREADSHEET_MAGIC):
        raise UnusableFile(_("This is not a spreadsheet. Upload an .xlsx, .xls or .csv file."))
    if _starts_with(head, MARKUP_MAGIC):
        # Many business systems "export to Excel" as a web page named .xls.
        raise UnusableFile(
            _(
                "This file is a web page or XML document with a spreadsheet name. Open it in Excel "
                "and save it as .xlsx (or CSV), then upload that."
            )
        )
    return _open_csv(stream, head)


def _starts_with(head: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """Does the file start (after a BOM and blank space, in any case) with one of `prefixes`?"""
    start = head[:512].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return start.startswith(prefixes)


def _open_workbook(stream: IO[bytes], fmt: str) -> Table:
    stream.seek(0)
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(stream)
        for index in range(len(workbook.sheet_names)):
            sheet = workbook.get_sheet_by_index(index)
            if sheet.height:
                return Table(
                    format=fmt, height=sheet.end[0] + 1 if sheet.end else sheet.height, _source=sheet
                )
    except python_calamine.CalamineError as exc:
        raise UnusableFile(
            _("The file could not be read as a spreadsheet. Upload an .xlsx, .xls or .csv file.")
        ) from exc
    raise UnusableFile(_("The workbook has no data."))


def _detect_encoding(stream: IO[bytes]) -> str:
    """utf-8-sig if the whole file decodes as UTF-8, else gb18030 if it decodes as that."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        stream.seek(0)
        try:
            while chunk := stream.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise UnusableFile(
        _("The text encoding of the file was not recognised. Save it as UTF-8 CSV or as .xlsx.")
    )


def _open_csv(stream: IO[bytes], head: bytes) -> Table:
    encoding = _detect_encoding(stream)
    sample = head.decode(encoding, errors="ignore")
    if not sample.strip():
        raise UnusableFile(_("The file is empty."))
    try:
        lines = sample.splitlines()[:20]
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    stream.seek(0)
    height = sum(1 for _line in stream)
    return Table(format="csv", height=height, _source=stream, _encoding=encoding, _delimiter=delimiter)


# --- header detection and mapping ----------------------------------------------------------

_HEADER_NOISE = re.compile(r"[\s*＊:：()（）\[\]【】_\-./、]|必填|required|optional|选填|可选")


def normalise_header(text) -> str:
    """'手机号码（必填）' → '手机号码'; 'E-mail *' → 'email'. Used to compare headers with
    aliases and with saved mappings."""
    text = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return _HEADER_NOISE.sub("", text)


# --- cell cleaners -------------------------------------------------------------------------
# Each takes a raw cell value (str, int, float, bool, date, datetime or "") and returns the
# clean value, "" / None for an empty cell, or raises ValidationError with a translated message.


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value, *, max_length: int | None = None) -> str:
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = (
            value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
        )
    elif isinstance(value, date):
        value = value.isoformat()
    # Control characters (NUL and the like) cannot be stored or written back to a sheet.
    text = " ".join(_CONTROL.sub("", str(value)).split())
    if max_length and len(text) > max_length:
        raise ValidationError(
            _("Too long: at most %(max)d characters (this has %(length)d).")
            % {"max": max_length, "length": len(text)}
        )
    return text


_SCIENTIFIC = re.compile(r"^\s*([+-]?)(\d+)(?:\.(\d+))?[eE]\+?(\d+)\s*$")
_PHONE_JUNK = re.compile(r"[\s\-－—–().（）/]")


def clean_phone_text(value) -> str:
    """A phone number as digits (and a leading +), whatever the cell holds: a number
    (13800138000.0), scientific notation that kept every digit (1.3800138E+10), full-width
    digits, spaces and dashes. Scientific notation that lost digits (1.38E+10) is refused:
    the real number is gone. Validation of the number itself is the field's business."""
    if is_blank(value):
        return ""
    if isinstance(value, bool):
        raise ValidationError(_("Not a phone number."))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValidationError(_("Not a phone number."))
        return str(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    match = _SCIENTIFIC.match(text)
    if match:
        _sign, whole, fraction, exponent = match.groups()
        if len(whole) + len(fraction or "") < len(whole) + int(exponent):
            # 1.38E+10 shows 3 digits of an 11-digit number: the others are gone.
            raise ValidationError(
                _(
                    "The number is in scientific notation (%(value)s) and has lost its digits. "
                    "Format the column as text in Excel, type the numbers again and re-import."
                )
                % {"value": text}
            )
        return str(int(Decimal(text)))
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return _PHONE_JUNK.sub("", text)


EXCEL_EPOCH = date(1899, 12, 30)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[\sT].*)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def clean_date(value) -> date | None:
    """Excel dates (real dates or serial numbers) and text dates: 2024-01-05, 2024/1/5,
    2024.1.5, 2024年1月5日, 20240105, with or without a time."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValidationError(_("Not a date."))
    if isinstance(value, (int, float)):
        # An Excel serial day number (1 = 1900-01-01); plausible range only.
        if 1 <= value < 2958466:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValidationError(_("Not a date."))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"\d{5}(\.\d+)?", text):
        return EXCEL_EPOCH + timedelta(days=int(float(text)))
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise ValidationError(_("Not a date (expected e.g. 2024-01-05, 2024/1/5 or 2024年1月5日)."))


def clean_datetime(value) -> datetime | None:
    """Like clean_date, keeping the time of real Excel datetimes (naive, local)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, float) and not is_blank(value) and 1 <= value < 2958466:
        return datetime.combine(EXCEL_EPOCH, datetime.min.time()) + timedelta(days=value)
    day = clean_date(value)
    if day is None:
        return None
    if isinstance(value, str):
        match = re.search(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$", value.strip())
        if match:
            hour, minute, second = (int(part or 0) for part in match.groups())
            if hour < 24 and minute < 60 and second < 60:
                return datetime(day.year, day.month, day.day, hour, minute, second)
    return datetime(day.year, day.month, day.day)


def clean_decimal(value, *, places: int = 2, minimum: Decimal | None = None) -> Decimal | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValidationError(_("Not a number."))
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        text = re.sub(r"^[¥￥$]|元$|[,\s]", "", text)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError(_("Not a number.")) from None
    if not number.is_finite():
        raise ValidationError(_("Not a number."))
    try:
        number = number.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation:  # more digits than a Decimal context holds: no real amount
        raise ValidationError(_("The number is too large.")) from None
    if minimum is not None and number < minimum:
        raise ValidationError(_("Must be at least %(minimum)s.") % {"minimum": minimum})
    return number


_TRUE = {"1", "y", "yes", "true", "t", "x", "✓", "✔", "是", "有", "对", "同意", "已同意"}
_FALSE = {"0", "n", "no", "false", "f", "否", "无", "不", "不同意", "未同意"}


def clean_bool(value) -> bool | None:
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(_("Expected yes or no (是/否)."))


def choice_lookup(choices) -> dict[str, str]:
    """Accepted spellings of each choice → its stored value: the value itself and its label in
    every configured language, compared after normalise_header()."""
    from django.conf import settings
    from django.utils import translation

    lookup: dict[str, str] = {}
    for value, label in choices:
        if value == "":
            continue
        lookup[normalise_header(value)] = value
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                lookup.setdefault(normalise_header(str(label)), value)
    return lookup


def clean_choice(value, lookup: dict[str, str], labels: list[str]):
    if is_blank(value):
        return ""
    key = normalise_header(value)
    if key in lookup:
        return lookup[key]
    raise ValidationError(_("Not one of: %(choices)s.") % {"choices": " / ".join(labels)})


# The built-in issue messages the runner itself writes (translated when shown).
MESSAGE_REQUIRED = gettext_lazy("This column is required.")


# A cell starting with one of these is run as a formula by Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; control
    characters, which a worksheet cannot hold, are dropped."""
    if isinstance(value, str):
        # Characters a worksheet cannot hold (control characters) are dropped.
        value = _CONTROL.sub("", value)
        if value.startswith(FORMULA_PREFIXES):
            return "'" + value
    return value
