"""Finding source files and reading JSON from them with precise error locations."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

from ..errors import InputError

UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"


def find_source_files(paths: list[str | Path], suffixes: tuple[str, ...] = (".json", ".json.gz")) -> list[Path]:
    """Expand files and folders into a sorted list of source files.

    A folder contributes the files directly inside it whose names end in one of
    ``suffixes``. A missing path or a folder without such files is an error.
    """
    if not paths:
        raise InputError("no input path given: name at least one file or folder")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder; check the path")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(suffixes))
            if not files:
                raise InputError(
                    f"{path}: the folder contains no {' or '.join(suffixes)} files; "
                    "point at the folder that holds the slice files"
                )
            found.extend(files)
        else:
            found.append(path)
    return found


def read_file_bytes(path: Path) -> tuple[bytes, str]:
    """Return a file's bytes and their SHA-256 in hex."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    return raw, hashlib.sha256(raw).hexdigest()


def parse_json_bytes(raw: bytes, path: Path | str) -> object:
    """Parse plain or gzipped JSON bytes.

    A UTF-8 byte-order mark is accepted. Errors name the file and the byte
    offset in the uncompressed text.
    """
    if not raw:
        raise InputError(f"{path}: the file is empty (0 bytes); expected a JSON object")
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(f"{path}: invalid gzip data ({exc}); the file may be truncated, download it again") from exc
    offset = 0
    if raw.startswith(UTF8_BOM):
        offset = len(UTF8_BOM)
        raw = raw[offset:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: invalid UTF-8 at byte {exc.start + offset}; MPD files are UTF-8 JSON"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        byte_offset = len(text[: exc.pos].encode("utf-8")) + offset
        hint = "the file is truncated" if exc.pos >= len(text.rstrip()) else "the file is not valid JSON"
        raise InputError(
            f"{path}: invalid JSON at byte {byte_offset} (line {exc.lineno}, column {exc.colno}): "
            f"{exc.msg}; {hint}, replace it with a complete copy"
        ) from exc
