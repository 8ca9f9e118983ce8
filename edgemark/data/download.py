"""Fetch and unpack the official CUHK archive (``train.zip`` from CUHK MMLab).

Streamed to ``DIR/train.zip.part`` and resumed with an HTTP Range request when a
partial file is there; renamed to ``train.zip`` only when complete. Verified by the
server's length, the zip's own CRCs, an optional pinned SHA-256, and by parsing the
unpacked lists. Without a network it says so and how to proceed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import EdgemarkError

CUHK_URL = "http://mmlab.ie.cuhk.edu.hk/archive/CNN/data/train.zip"
EXPECTED_LISTS = {"trainImageList.txt": 10000, "testImageList.txt": 3466}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: Path, timeout: float = 30.0, progress=None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); returns ``dest``."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part file already holds everything
            os.replace(part, dest)
            return dest
        raise EdgemarkError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        raise EdgemarkError(
            f"cannot reach {url} ({reason}): this machine looks offline. Download train.zip on a machine that is "
            f"online and run: edgemark data download --archive train.zip --to {dest.parent}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the server ignored the range: start again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f:
            done = have
            try:
                while chunk := response.read(1 << 16):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            except (socket.timeout, OSError) as e:
                raise EdgemarkError(f"download of {url} broke off at {done} bytes ({e}); run the same command again to resume") from None
    if total is not None and part.stat().st_size != total:
        raise EdgemarkError(f"download of {url} is short ({part.stat().st_size} of {total} bytes); run again to resume")
    os.replace(part, dest)
    return dest


def unpack(archive: Path, to: Path, sha256: str | None = None) -> dict:
    """Check and unpack the archive into ``to``; returns what was verified."""
    digest = sha256_of(archive)
    if sha256 and digest != sha256.lower():
        raise EdgemarkError(f"{archive}: SHA-256 {digest} does not match the expected {sha256}")
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise EdgemarkError(f"{archive}: corrupt member {bad} (CRC mismatch); delete it and download again")
            names = z.namelist()
            root = to.resolve()
            for name in names:
                # containment, not a string prefix: DIR/../DIR-evil/x starts with DIR's text too
                if not (to / name).resolve().is_relative_to(root):
                    raise EdgemarkError(f"{archive}: unsafe path {name!r} in the archive (it leads out of {to})")
            to.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=to))
            try:
                z.extractall(staging)
                root = _archive_root(staging)
                for entry in root.iterdir():
                    final = to / entry.name
                    if final.exists():
                        shutil.rmtree(final) if final.is_dir() else final.unlink()
                    os.replace(entry, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as e:
        raise EdgemarkError(f"{archive}: not a zip archive ({e}); delete it and download again") from None
    counts = {}
    for name, expected in EXPECTED_LISTS.items():
        path = to / name
        if path.exists():
            counts[name] = sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())
    return {"archive": str(archive), "sha256": digest, "files": len(names), "lists": counts,
            "expected_lists": EXPECTED_LISTS}


def _archive_root(staging: Path) -> Path:
    """The folder holding the lists: the staging folder itself or its single sub-folder."""
    entries = [e for e in staging.iterdir() if not e.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].name == n for n in ("lfw_5590", "net_7876")):
        return entries[0]
    return staging
