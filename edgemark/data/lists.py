"""Parsers for landmark list files: CUHK (LFW+Net), MTFL, WFLW and 300-W (``.pts`` files).

Every parser returns ``FaceRecord``s with the box as (left, top, right, bottom) in image
pixels (or ``None`` when the list has no box) and landmarks as a (K, 2) array. A bad
line (malformed, an empty box, a missing image, a box that misses its image) raises
``DataError`` naming the file and the line, unless ``skip_bad`` is set: then bad lines
are collected in ``FaceList.skipped`` and reported by the caller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

LIST_FORMATS = ("cuhk", "mtfl", "wflw", "300w")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_LARGEST = float(np.finfo(np.float32).max)


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
    # True when the points are not in the list file's text (300-W: one .pts file per image; the
    # list may be a folder): what identifies the list's content is then its records' points
    points_elsewhere: bool = False

    def __len__(self) -> int:
        return len(self.records)


def box_problem(box, width: int, height: int) -> str | None:
    """Why a (left, top, right, bottom) box cannot crop a face from a width x height image:
    empty, or not overlapping the image at all. None when it can."""
    left, top, right, bottom = box
    if not (right > left and bottom > top):
        return f"empty box: left={left:g} top={top:g} right={right:g} bottom={bottom:g}"
    if right <= 0 or bottom <= 0 or left >= width or top >= height:
        return f"box left={left:g} top={top:g} right={right:g} bottom={bottom:g} lies outside its {width}x{height} image"
    return None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image as decoded (EXIF rotation applied) from its header alone,
    or None when the header cannot tell (decoding will then say what is wrong)."""
    try:
        from PIL import Image
    except ImportError:  # a device bundle without Pillow: read_image checks the box once decoded
        return None
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: turned by 90 degrees
                width, height = height, width
    except Exception:  # noqa: BLE001  (any failure here is only "cannot tell yet")
        return None
    return width, height


def _image_path(root: Path, raw: str) -> Path:
    # The official CUHK train list writes Windows paths (lfw_5590\name.jpg).
    return root / raw.replace("\\", "/")


def _floats(fields: list[str], path: str, line: int) -> list[float]:
    try:
        values = [float(v) for v in fields]
    except ValueError:
        bad = next(v for v in fields if not _is_float(v))
        raise DataError(f"not a number: {bad!r}", path, line) from None
    if not all(abs(v) <= _LARGEST for v in values):  # NaN, inf, and 1e39 (inf as the float32 the points are kept in)
        raise DataError("non-finite coordinate", path, line)
    return values


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _other_count(coordinates: int, num_points: int) -> str:
    """A hint when a line's field count is that of another point count: the list is of
    another scheme than the one asked for (a 68-point list for a 98-point recipe, say)."""
    if coordinates > 0 and coordinates % 2 == 0 and coordinates // 2 != num_points:
        return f": a line of {coordinates // 2} points, but the scheme has {num_points}"
    return ""


def _parse_cuhk(fields: list[str], path: str, line: int, num_points: int):
    expected = 1 + 4 + 2 * num_points
    if len(fields) != expected:
        raise DataError(f"expected {expected} fields (PATH left right top bottom x1 y1 ... x{num_points} y{num_points}), got {len(fields)}"
                        + (": its first field is a number, not the image path: not a CUHK line (another --format?)"
                           if _is_float(fields[0]) else _other_count(len(fields) - 5, num_points)), path, line)
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
        raise DataError(f"expected {expected} fields (WFLW: {num_points} x/y pairs, box xmin ymin xmax ymax, 6 attributes, path), "
                        f"got {len(fields)}" + (": its last field is a number, not the image path: not a WFLW line (another --format?)"
                                                if _is_float(fields[-1]) else _other_count(len(fields) - 11, num_points)), path, line)
    values = _floats(fields[: 2 * num_points + 4], path, line)
    points = np.asarray(values[: 2 * num_points], np.float32).reshape(num_points, 2)
    x0, y0, x1, y1 = values[2 * num_points :]
    if not (x1 > x0 and y1 > y0):
        raise DataError(f"empty box: xmin={x0} ymin={y0} xmax={x1} ymax={y1}", path, line)
    return fields[-1], (x0, y0, x1, y1), points


def read_pts(path: Path, num_points: int) -> np.ndarray:
    """A 300-W / iBUG ``.pts`` file (``version: 1``, ``n_points: 68``, ``{``, one ``x y`` a
    line, ``}``) -> (K, 2) float32 in 0-based pixels (the files count pixels from 1, as
    Matlab does)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read landmark file: {getattr(e, 'strerror', None) or e}", str(path)) from None
    lines = text.splitlines()
    declared, values, inside, start = None, [], False, 0
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("n_points"):
            try:
                declared = int(line.split(":", 1)[1])
            except (IndexError, ValueError):
                raise DataError(f"bad n_points line: {line!r}", str(path), number) from None
        elif line == "{":
            inside, start = True, number
        elif line == "}":
            inside = False
        elif inside:
            fields = line.split()
            if len(fields) != 2:
                raise DataError(f"expected 'x y', got {line!r}", str(path), number)
            values.append(_floats(fields, str(path), number))
    count = declared if declared is not None else len(values)
    if len(values) != count:
        raise DataError(f"n_points says {count} but {len(values)} points follow", str(path), start or None)
    if count != num_points:
        raise DataError(f"{count} points, but the scheme has {num_points}", str(path), start or None)
    return np.asarray(values, np.float32).reshape(num_points, 2) - 1.0


def _read_300w(list_path: Path, root: Path | None, num_points: int, skip_bad: bool, check_images: bool) -> FaceList:
    """300-W: a folder searched (recursively) for images with a ``.pts`` file beside them, or a
    text list of image paths (relative to ``root``, default the list's folder). No box: the
    box is the points' bounding box (as the 300-W challenge's own face boxes are)."""
    if list_path.is_dir():
        root = list_path
        images = sorted(p for p in list_path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.with_suffix(".pts").is_file())
        entries = [(p, str(p.with_suffix(".pts")), None) for p in images]
        if not entries:
            raise DataError("no images with a .pts file beside them (300-W layout)", str(list_path))
    else:
        root = root if root is not None else list_path.parent
        try:
            text = list_path.read_bytes().decode("utf-8-sig")
        except OSError as e:
            raise DataError(f"cannot read list file: {e.strerror or e}", str(list_path)) from None
        except UnicodeDecodeError as e:
            raise DataError(f"not a UTF-8 text list (byte {e.start})", str(list_path)) from None
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append((_image_path(root, line), str(list_path), number))
    records, skipped = [], []
    for image_path, where, number in entries:
        try:
            if check_images and not image_path.is_file():
                raise DataError(f"image not found: {image_path}", where, number)
            pts = image_path.with_suffix(".pts")
            if not pts.is_file():
                raise DataError(f"no landmark file {pts.name} beside {image_path}", where, number)
            points = read_pts(pts, num_points)
            lo, hi = points.min(axis=0), points.max(axis=0)
            box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
            if check_images:
                _check_image(image_path, box, where, number)
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append(str(e))
            continue
        records.append(FaceRecord(image_path, box, points, where, number or 0))
    if not records:
        raise DataError("no usable faces" + (f" ({len(skipped)} skipped)" if skipped else ""), str(list_path))
    return FaceList(str(list_path), records, skipped, points_elsewhere=True)


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
    if fmt not in LIST_FORMATS:
        raise DataError(f"unknown list format {fmt!r}; choose one of {', '.join(LIST_FORMATS)}")
    list_path = Path(list_path)
    if fmt == "300w":  # a folder of images with .pts files, or a list of image paths
        return _read_300w(list_path, Path(image_root) if image_root is not None else None, num_points, skip_bad, check_images)
    root = Path(image_root) if image_root is not None else list_path.parent
    try:
        raw = list_path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read list file: {e.strerror or e}", str(list_path)) from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM (Windows editors) is not part of the first path
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
            if check_images:
                _check_image(image_path, box, str(list_path), number)
        except DataError as e:
            if not skip_bad:
                raise
            skipped.append(str(e))
            continue
        records.append(FaceRecord(image_path, box, points, str(list_path), number))
    if not records:
        raise DataError("no usable lines" + (f" ({len(skipped)} skipped)" if skipped else ""), str(list_path))
    return FaceList(str(list_path), records, skipped)


def _check_image(image_path: Path, box, list_path: str, line: int) -> None:
    try:
        found = image_path.is_file()
    except OSError as e:  # a name too long for the file system, say
        raise DataError(f"image not found: {image_path} ({e.strerror or e})", list_path, line) from None
    if not found:
        raise DataError(f"image not found: {image_path}", list_path, line)
    size = image_size(image_path) if box is not None else None
    problem = box_problem(box, *size) if size is not None else None
    if problem:
        raise DataError(problem, list_path, line)


def source_of(record) -> str:
    """The data source of a face: the folder its image sits in (lfw_5590, net_7876)."""
    return record.image_path.parent.name
