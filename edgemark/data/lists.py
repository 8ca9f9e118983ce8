"""Parsers for landmark list files: CUHK (LFW+Net), MTFL and WFLW.

Every parser returns ``FaceRecord``s with the box as (left, top, right, bottom) in image
pixels (or ``None`` when the list has no box) and landmarks as a (K, 2) array. A bad
line raises ``DataError`` naming the file and the line, unless ``skip_bad`` is set: then
bad lines are collected in ``FaceList.skipped`` and reported by the caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

LIST_FORMATS = ("cuhk", "mtfl", "wflw")


@dataclass
class FaceRecord:
    image_path: Path
    box: tuple[float, float, float, float] | None  # left, top, right, bottom; None = not given
    landmarks: np.ndarray  # (K, 2) float32, image pixels
    list_path: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.list_path}:{self.line}"


@dataclass
class FaceList:
    path: str
    records: list[FaceRecord]
    skipped: list[str] = field(default_factory=list)  # "file:line: reason" of skipped lines

    def __len__(self) -> int:
        return len(self.records)


def _image_path(root: Path, raw: str) -> Path:
    # The official CUHK train list writes Windows paths (lfw_5590\name.jpg).
    return root / raw.replace("\\", "/")


def _floats(fields: list[str], path: str, line: int) -> list[float]:
    try:
        values = [float(v) for v in fields]
    except ValueError:
        bad = next(v for v in fields if not _is_float(v))
        raise DataError(f"not a number: {bad!r}", path, line) from None
    if not all(np.isfinite(values)):
        raise DataError("non-finite coordinate", path, line)
    return values


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _parse_cuhk(fields: list[str], path: str, line: int, num_points: int):
    expected = 1 + 4 + 2 * num_points
    if len(fields) != expected:
        raise DataError(f"expected {expected} fields (PATH left right top bottom x1 y1 ... x{num_points} y{num_points}), got {len(fields)}", path, line)
    values = _floats(fields[1:], path, line)
    left, right, top, bottom = values[:4]
    if not (right > left and bottom > top):
        raise DataError(f"empty box: left={left} right={right} top={top} bottom={bottom} (CUHK order is left right top bottom)", path, line)
    points = np.asarray(values[4:], np.float32).reshape(num_points, 2)
    return fields[0], (left, top, right, bottom), points


def _parse_mtfl(fields: list[str], path: str, line: int, num_points: int):
    # PATH x1..xK y1..yK [attributes...]
    if len(fields) < 1 + 2 * num_points:
        raise DataError(f"expected at least {1 + 2 * num_points} fields (PATH x1..x{num_points} y1..y{num_points} [attributes]), got {len(fields)}", path, line)
    values = _floats(fields[1 : 1 + 2 * num_points], path, line)
    points = np.stack([values[:num_points], values[num_points:]], axis=1).astype(np.float32)
    return fields[0], None, points


def _parse_wflw(fields: list[str], path: str, line: int, num_points: int):
    # x0 y0 ... x97 y97 xmin ymin xmax ymax pose expression illumination make-up occlusion blur PATH
    expected = 2 * num_points + 4 + 6 + 1
    if len(fields) != expected:
        raise DataError(f"expected {expected} fields (WFLW: {num_points} x/y pairs, box, 6 attributes, path), got {len(fields)}", path, line)
    values = _floats(fields[: 2 * num_points + 4], path, line)
    points = np.asarray(values[: 2 * num_points], np.float32).reshape(num_points, 2)
    x0, y0, x1, y1 = values[2 * num_points :]
    if not (x1 > x0 and y1 > y0):
        raise DataError(f"empty box: xmin={x0} ymin={y0} xmax={x1} ymax={y1}", path, line)
    return fields[-1], (x0, y0, x1, y1), points


_PARSERS = {"cuhk": _parse_cuhk, "mtfl": _parse_mtfl, "wflw": _parse_wflw}


def read_list(
    list_path: str | os.PathLike,
    fmt: str = "cuhk",
    num_points: int = 5,
    image_root: str | os.PathLike | None = None,
    skip_bad: bool = False,
    check_images: bool = True,
) -> FaceList:
    """Parse a landmark list file. Image paths are relative to ``image_root``
    (default: the list file's folder). Accepts CRLF and ``\\`` path separators."""
    if fmt not in _PARSERS:
        raise DataError(f"unknown list format {fmt!r}; choose one of {', '.join(LIST_FORMATS)}")
    list_path = Path(list_path)
    root = Path(image_root) if image_root is not None else list_path.parent
    try:
        raw = list_path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read list file: {e.strerror or e}", str(list_path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"not a UTF-8 text list (byte {e.start})", str(list_path)) from None
    parse = _PARSERS[fmt]
    records: list[FaceRecord] = []
    skipped: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):  # splitlines handles CRLF
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            rel, box, points = parse(fields, str(list_path), number, num_points)
            image_path = _image_path(root, rel)
            if check_images and not image_path.is_file():
                raise DataError(f"image not found: {image_path}", str(list_path), number)
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append(str(e))
            continue
        records.append(FaceRecord(image_path, box, points, str(list_path), number))
    if not records:
        raise DataError("no usable lines" + (f" ({len(skipped)} skipped)" if skipped else ""), str(list_path))
    return FaceList(str(list_path), records, skipped)


def source_of(record) -> str:
    """The data source of a face: the folder its image sits in (lfw_5590, net_7876)."""
    return record.image_path.parent.name
