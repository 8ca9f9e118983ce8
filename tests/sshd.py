"""A real OpenSSH server on loopback for the device tests: generated host and user keys,
a free port, an ssh_config with a host alias, a known_hosts file, and SFTP (for scp)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


class LoopbackSshd:
    def __init__(self, folder: Path):
        self.dir = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host_key = keygen(folder / "host_key")
        self.user_key = keygen(folder / "user_key")
        self.wrong_key = keygen(folder / "wrong_key")
        (folder / "authorized_keys").write_text(Path(f"{self.user_key}.pub").read_text())
        (folder / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\nPidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            "Subsystem sftp internal-sftp\n")  # scp (SFTP since OpenSSH 9) works as on a Pi
        host_pub = Path(f"{self.host_key}.pub").read_text().split()
        (folder / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        (folder / "empty_known_hosts").write_text("")
        self.config = self.client_config("known_hosts")
        self.proc = None

    def client_config(self, known_hosts: str, name: str = "ssh_config", with_key: bool = True) -> Path:
        path = self.dir / name
        key = f"  IdentityFile {self.user_key}\n" if with_key else ""
        path.write_text(f"Host edgedevice\n  HostName 127.0.0.1\n  Port {self.port}\n  User {psutil.Process().username()}\n"
                        f"{key}  IdentitiesOnly yes\n  UserKnownHostsFile {self.dir / known_hosts}\n")
        return path

    def start(self) -> "LoopbackSshd":
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], stderr=open(self.dir / "sshd.log", "ab"))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: " + (self.dir / "sshd.log").read_text()[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("sshd did not start listening")

    def kill(self) -> None:
        """Kill the server and every session it forked (a device that dies)."""
        if self.proc is None:
            return
        parent = psutil.Process(self.proc.pid)
        for p in parent.children(recursive=True) + [parent]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait()
        self.proc = None
