"""A ser2net-style RFC 2217 port for the emulated rack: a TCP listener that gives each client the board's UART
(the simulated board's raw console, ``socket://<mgmt>:7001``) with the telnet COM-PORT-OPTION negotiation of RFC
2217, so that the harness opens it as ``rfc2217://host:port`` exactly as a real console server's port.

The option negotiation and the byte escaping (IAC doubling) are pyserial's ``serial.rfc2217.PortManager``, the
library's server side; this module is the listener and the two byte pumps.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import serial
from serial.rfc2217 import PortManager

log = logging.getLogger(__name__)


class _Conn:
    """What PortManager writes to: the client socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)


class Rfc2217Port:
    def __init__(self, uart_url: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.uart_url = uart_url
        self.server = socket.create_server((host, port))
        self.server.settimeout(0.2)
        self.address: tuple[str, int] = self.server.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"rfc2217 {uart_url}", daemon=True)

    @property
    def url(self) -> str:
        return f"rfc2217://{self.address[0]}:{self.address[1]}"

    def start(self) -> Rfc2217Port:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self._serve(client)  # one client at a time, as a serial line has one reader
            except Exception as exc:
                log.info("rfc2217 %s: client session ended: %s", self.uart_url, exc)
            finally:
                client.close()

    def _serve(self, client: socket.socket) -> None:
        uart: Any = serial.serial_for_url(self.uart_url, timeout=0.2)
        client.settimeout(0.2)
        manager = PortManager(uart, _Conn(client))
        done = threading.Event()

        def uart_to_client() -> None:
            try:
                while not done.is_set() and not self._stop.is_set():
                    data = uart.read(4096)
                    if data:
                        client.sendall(b"".join(manager.escape(data)))
            except (OSError, serial.SerialException):
                pass
            finally:
                done.set()

        pump = threading.Thread(target=uart_to_client, daemon=True)
        pump.start()
        try:
            while not done.is_set() and not self._stop.is_set():
                try:
                    data = client.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                out = b"".join(manager.filter(data))
                if out:
                    uart.write(out)
        finally:
            done.set()
            pump.join(timeout=5)
            uart.close()
