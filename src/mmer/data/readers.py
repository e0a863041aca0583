"""Reading text and tables from a dataset's files with mmer's own errors: whatever the bytes, a reader returns
the content or raises :class:`~mmer.core.errors.DataError` naming the file (and the byte or line), never a decoding or
parsing traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmer.core.errors import DataError


def read_text(path: str | Path, what: str = "file") -> str:
    """The file's text (UTF-8; a BOM is dropped)."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1]
        raise DataError(f"{path}: the {what} is not UTF-8 text (byte {exc.start}: {bad!r}); re-save it as UTF-8"
                        ) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def read_csv(path: str | Path, what: str = "table", **options: Any):
    """A CSV / TSV as a DataFrame (pandas ``read_csv`` options); an empty file, bad bytes or broken quoting are a
    DataError."""
    import io

    import pandas as pd

    path = Path(path)
    text = read_text(path, what)
    if not text.strip():
        raise DataError(f"{path}: the {what} is empty (no header, no rows)")
    options.setdefault("index_col", False)  # a row with extra fields must not turn the first columns into an index
    try:
        return pd.read_csv(io.StringIO(text), **options)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot read the {what} ({str(exc).strip().splitlines()[0]})") from None


def read_sheet(path: str | Path, what: str = "sheet"):
    """An .xlsx / .xls sheet (or a CSV under another suffix) as a DataFrame of objects; an unreadable workbook is a
    DataError."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xls"):
        return read_csv(path, what, dtype=object)
    try:
        return pd.read_excel(path, dtype=object)
    except Exception as exc:  # noqa: BLE001  (zip, XML and openpyxl errors of a damaged workbook: all one answer)
        raise DataError(f"{path}: cannot read the {what} as a workbook ({type(exc).__name__}: {exc})") from None
