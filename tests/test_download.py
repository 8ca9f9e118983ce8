"""`edgemark data download` against a real HTTP server on loopback that honours Range
requests, and the offline message against a port where nothing listens."""

import hashlib
import http.server
import io
import socket
import subprocess
import sys
import threading
import zipfile

import pytest

from edgemark.data.download import fetch, unpack
from edgemark.errors import EdgemarkError


def make_archive() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("trainImageList.txt", "lfw_5590\\a.jpg 1 2 3 4 1 1 2 2 3 3 4 4 5 5\r\n")
        z.writestr("testImageList.txt", "net_7876/b.jpg 1 2 3 4 1 1 2 2 3 3 4 4 5 5\r\n")
        z.writestr("lfw_5590/a.jpg", b"x" * 50000)
        z.writestr("net_7876/b.jpg", b"y" * 50000)
    return buf.getvalue()


class RangeHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    requests: list = []

    def do_GET(self):
        rng = self.headers.get("Range")
        self.requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.payload[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    RangeHandler.payload, RangeHandler.requests = make_archive(), []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/train.zip"
    httpd.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_resumes_and_unpacks(server, tmp_path):
    payload = RangeHandler.payload
    (tmp_path / "train.zip.part").write_bytes(payload[:30000])  # an earlier, broken-off download
    sha = hashlib.sha256(payload).hexdigest()
    done = subprocess.run([sys.executable, "-m", "edgemark", "data", "download", "--to", str(tmp_path), "--url", server,
                           "--sha256", sha], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert RangeHandler.requests == ["bytes=30000-"]
    assert (tmp_path / "trainImageList.txt").exists() and (tmp_path / "lfw_5590" / "a.jpg").stat().st_size == 50000
    assert not (tmp_path / "train.zip.part").exists() and not (tmp_path / "train.zip").exists()
    assert sha in done.stdout


def test_checksum_mismatch_and_corrupt_archive(server, tmp_path):
    archive = fetch(server, tmp_path / "train.zip")
    with pytest.raises(EdgemarkError, match="does not match the expected"):
        unpack(archive, tmp_path / "out", sha256="0" * 64)
    data = bytearray(archive.read_bytes())
    data[100:200] = b"\0" * 100  # damage a member's bytes
    archive.write_bytes(bytes(data))
    with pytest.raises(EdgemarkError, match="corrupt member|not a zip"):
        unpack(archive, tmp_path / "out2")


def test_offline_is_said_clearly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "edgemark", "data", "download", "--to", str(tmp_path),
                           "--url", f"http://127.0.0.1:{free_port()}/train.zip"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "looks offline" in done.stderr and "--archive" in done.stderr


@pytest.mark.parametrize("member", ["../cuhk-evil/x.txt", "../cuhk/../escape.txt", "/abs/x.txt", "lfw_5590/../../cuhk2/x.txt"])
def test_a_member_that_leaves_the_folder_is_refused(tmp_path, member):
    """A containment check, not a string prefix: ``../cuhk-evil/x.txt`` resolves to a path
    whose text starts with the target folder's (``.../cuhk``) although it is outside it."""
    to = tmp_path / "cuhk"
    archive = tmp_path / "train.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("trainImageList.txt", "lfw_5590\\a.jpg 1 2 3 4 1 1 2 2 3 3 4 4 5 5\r\n")
        z.writestr(member, "evil")
    with pytest.raises(EdgemarkError, match=r"unsafe path .* leads out of"):
        unpack(archive, to)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.zip"]  # nothing unpacked, inside or beside
