"""SSH through the user's own OpenSSH client, so ~/.ssh/config aliases, keys and the
agent work as they do in a terminal. Host keys are always checked
(StrictHostKeyChecking=yes: an unknown or changed host key is an error, never accepted
silently); no password prompts (BatchMode); every remote argument is quoted."""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field

from ..errors import EdgemarkError


def check_port(port, host: str = "") -> int:
    """A TCP port, 1 to 65535; anything else is named in an EdgemarkError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        where = f"{host}: " if host else ""
        raise EdgemarkError(f"{where}SSH port {port!r} is not a port number (1 to 65535)")
    return port


@dataclass
class SshTarget:
    host: str  # user@host, host or a ~/.ssh/config alias
    port: int | None = None
    identity: str | None = None
    config: str | None = None  # an ssh_config file instead of ~/.ssh/config
    connect_timeout: int = 10
    extra: list[str] = field(default_factory=list)

    def __post_init__(self):
        """A host ssh would read as an option (``-oProxyCommand=...`` runs a local command) or
        one with blanks or control characters is refused here, however the target was made:
        hosts come from the command line and from shared devices.yaml files."""
        host = self.host
        if not isinstance(host, str) or not host:
            raise EdgemarkError(f"SSH host {host!r}: expected user@host, host or a ~/.ssh/config alias")
        if host.startswith("-") or host.rpartition("@")[2].startswith("-"):
            raise EdgemarkError(f"SSH host {host!r} begins with '-': ssh would read it as an option, not a host")
        if any(ch.isspace() or not ch.isprintable() for ch in host):
            raise EdgemarkError(f"SSH host {host!r} contains blanks or control characters")
        if self.port is not None:
            check_port(self.port, host)

    @classmethod
    def parse(cls, spec: str, **kwargs) -> "SshTarget":
        """ssh://user@host:port, user@host or an alias."""
        if not isinstance(spec, str):
            raise EdgemarkError(f"{spec!r}: not an SSH target (ssh://user@host:port, user@host or a ~/.ssh/config alias)")
        m = re.fullmatch(r"(?:ssh://)?([^:/\s]+)(?::([0-9]+))?/?", spec)
        if not m:
            raise EdgemarkError(f"{spec!r}: not an SSH target (ssh://user@host:port, user@host or a ~/.ssh/config alias)")
        port = m.group(2)
        if port is not None:
            if len(port) > 5 or not 1 <= int(port) <= 65535:  # length first: int() of a huge string is an error of its own
                raise EdgemarkError(f"{spec!r}: port {port} is not a port number (1 to 65535)")
            if not kwargs.get("port"):
                kwargs["port"] = int(port)
        return cls(m.group(1), **kwargs)

    def base(self, program: str = "ssh") -> list[str]:
        argv = [program]
        if self.config:
            argv += ["-F", self.config]
        if self.port:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity, "-o", "IdentitiesOnly=yes"]
        return argv + ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                       "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", *self.extra]

    def command(self, remote_argv: list[str]) -> list[str]:
        return self.base() + [self.host, "--", shlex.join(remote_argv)]

    def run(self, remote_argv: list[str], timeout: float = 600, input: bytes | None = None, what: str = "") -> str:
        try:
            done = subprocess.run(self.command(remote_argv), input=input, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgemarkError(f"{self.host}: {what or remote_argv[0]} did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise self.error(done.returncode, done.stderr.decode(errors="replace"), what or shlex.join(remote_argv[:3]))
        return done.stdout.decode(errors="replace")

    def error(self, code: int, stderr: str, what: str) -> EdgemarkError:
        text = stderr.strip()
        port = f" -p {self.port}" if self.port else ""
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "No ED25519 host key is known" in text:
            return EdgemarkError(f"{self.host}: host key not known or changed, so the connection was refused. Check the device's "
                                 f"fingerprint, then add it: ssh-keyscan{port} HOST >> ~/.ssh/known_hosts (or connect once "
                                 f"with ssh{port} {self.host} and confirm)")
        if "Permission denied" in text:
            return EdgemarkError(f"{self.host}: the device refused the key (Permission denied). Pass --identity KEY, load the key "
                                 "in ssh-agent, or add your public key to the device's ~/.ssh/authorized_keys")
        if "Connection refused" in text or "timed out" in text or "Could not resolve" in text or "No route" in text:
            return EdgemarkError(f"{self.host}: cannot connect ({text.splitlines()[-1]})")
        if code == 255:
            return EdgemarkError(f"{self.host}: SSH connection failed or was lost during {what} ({text.splitlines()[-1] if text else 'no message'})")
        last = text.splitlines()[-1] if text else f"exit status {code}"
        return EdgemarkError(f"{self.host}: {what} failed on the device: {last}")
