"""The SSH driver (paramiko): a typed, context-managed connection to an installed board.

``SshConnection(host, user, key_path, port)``, a context manager (``with SshConnection(...) as ssh:`` connects
and closes): ``connect(timeout)`` retries until the board's sshd answers and accepts the key (then ``SshError``,
an infrastructure failure the strategy may re-classify), ``run`` gives a ``CommandResult``, ``run_checked`` the
stdout of a command that must succeed (else ``CommandFailed`` with its exit status, stdout and stderr; tbot's
``exec0``), ``read_file`` reads over SFTP (``cat`` when the server has no SFTP; a missing or unreadable
file is a ``ProductFailure``: the board answered). Host keys are accepted
as they come: boards are reinstalled all the time. ``ensure_keypair(path)`` makes the harness's ed25519 key.
"""

from __future__ import annotations

import errno
import logging
import shlex
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import paramiko

from harness.drivers.base import CommandFailed, CommandResult, ProductFailure, Ssh, SshError
from harness.wait import Deadline, wait_until

# what the board's SFTP server answers about the file itself: the product's fault, not the lab's
PRODUCT_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR})

log = logging.getLogger(__name__)


def ensure_keypair(path: Path) -> str:
    """The public key line of ``path`` (an ed25519 key made with ssh-keygen when missing)."""
    pub = path.with_name(path.name + ".pub")
    if not path.exists() or not pub.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "malina-harness", "-f", str(path)],
                       check=True, capture_output=True, timeout=30)
    return pub.read_text().strip()


class SshConnection(Ssh):
    def __init__(self, host: str, user: str, key_path: Path, *, port: int = 22) -> None:
        self.host, self.user, self.key_path, self.port = host, user, key_path, port
        self.client: paramiko.SSHClient | None = None

    def connect(self, timeout: float = 60.0) -> Self:
        try:
            key = paramiko.Ed25519Key.from_private_key_file(str(self.key_path))
        except (OSError, paramiko.SSHException) as exc:
            raise SshError(f"cannot load the SSH key {self.key_path}: {exc}") from None
        deadline = Deadline(timeout)

        def attempt() -> paramiko.SSHClient:
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            left = max(1.0, min(10.0, deadline.remaining))  # each try bounded by what is left (at least 1 s)
            try:
                client.connect(self.host, port=self.port, username=self.user, pkey=key, timeout=left,
                               banner_timeout=left, auth_timeout=left, allow_agent=False, look_for_keys=False)
            except BaseException:
                client.close()
                raise
            return client

        log.info("ssh %s@%s:%s: connecting (up to %g s)", self.user, self.host, self.port, timeout)
        self.client = wait_until(f"ssh {self.user}@{self.host}:{self.port}: a session", attempt, timeout=deadline,
                                 interval=0.5, retry_on=(TimeoutError, OSError, paramiko.SSHException, EOFError),
                                 error=SshError)
        log.info("ssh %s@%s:%s: connected after %.1f s", self.user, self.host, self.port, deadline.elapsed)
        return self

    def _client(self) -> paramiko.SSHClient:
        if self.client is None:
            raise SshError(f"ssh {self.user}@{self.host}: not connected")
        return self.client

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        try:
            _, stdout, stderr = self._client().exec_command(command, timeout=timeout)
            out = stdout.read().decode("utf-8", "replace")
            err = stderr.read().decode("utf-8", "replace")
            status = stdout.channel.recv_exit_status()
        except (TimeoutError, OSError, paramiko.SSHException) as exc:
            raise SshError(f"ssh {self.host}: {command!r}: {type(exc).__name__}: {exc}") from None
        log.info("ssh %s: %r exited %d", self.host, command, status)
        return CommandResult(command, status, out, err)

    def run_checked(self, command: str, timeout: float = 30.0) -> str:
        result = self.run(command, timeout)
        if not result.ok:
            raise CommandFailed(result, host=self.host)
        return result.stdout

    def read_file(self, path: str) -> bytes:
        """The file's bytes. The board answered but the file is missing or unreadable: ``ProductFailure`` (the
        installed system is wrong); the session broke: ``SshError``."""
        try:
            with self._client().open_sftp() as sftp, sftp.open(path, "rb") as f:
                return bytes(f.read())
        except (paramiko.SSHException, EOFError):
            try:  # no SFTP subsystem: the shell answers
                return self.run_checked(f"cat -- {shlex.quote(path)}").encode()
            except CommandFailed as failed:
                raise ProductFailure(f"ssh {self.host}: cannot read {path}: {failed.stderr.strip()}") from None
        except OSError as exc:
            # paramiko turns the SFTP server's status answers into OSError: ENOENT / EACCES, or no errno for a
            # plain "Failure"; a broken session shows as a timeout or a connection error instead
            answered = not isinstance(exc, TimeoutError | ConnectionError)
            if answered and (exc.errno is None or exc.errno in PRODUCT_ERRNOS):
                raise ProductFailure(f"ssh {self.host}: cannot read {path}: {exc.strerror or exc}") from None
            raise SshError(f"ssh {self.host}: cannot read {path}: {exc}") from None

    def close(self) -> None:
        if self.client is not None:
            log.info("ssh %s: closed", self.host)
            self.client.close()
            self.client = None

    def __enter__(self) -> Self:
        if self.client is None:
            self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
