"""nginx (Debian's package) as a reverse proxy in front of a WebSocket backend.

It runs as a foreground subprocess (``daemon off``, one process: ``master_process off``)
with a configuration, logs, pid file and temp directories written to a temporary
directory, and listens on 127.0.0.1 only. Install it with
``apt-get install nginx-light`` (or ``nginx``); tests skip without it, and fail under
``WSAPI_REQUIRE_PEERS=1``.

``NginxServer.proxy(backend_port)`` builds the configuration the diagnostics tests use:
one plain server block and, when a certificate is given, one TLS block, each with the
locations below (``BACKEND`` is the ``websockets`` test server)::

    /good/...        correct WebSocket proxying: HTTP/1.1 to BACKEND, Upgrade and
                     Connection forwarded ("/good/echo" reaches BACKEND's "/echo")
    /no-upgrade/...  HTTP/1.1 to BACKEND, but Upgrade and Connection not forwarded
    /http10/...      Upgrade and Connection forwarded, but HTTP/1.0 to BACKEND
                     (nginx's default proxy_http_version)
    /down/...        correct proxying to a port where nothing listens (backend down)
    anything else    nginx's own 404 (a client using a path the proxy has no location for)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.peers import check_loopback

INSTALL_COMMAND = "apt-get install nginx-light"

#: Where Debian installs nginx, in case /usr/sbin is not on PATH.
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

_CORRECT = """\
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;"""


def nginx_binary() -> str | None:
    """Path of the ``nginx`` executable, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None


def nginx_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the nginx peer."""
    if nginx_binary() is None:
        return False, f"nginx peer: no `nginx` executable; install it with `{INSTALL_COMMAND}`"
    return True, "nginx is available"


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (nginx binds it next; startup retries on a race)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _locations(backend: str, down: str) -> str:
    return f"""
        location /good/ {{
            proxy_pass http://{backend}/;
{_CORRECT}
        }}
        location /no-upgrade/ {{
            proxy_pass http://{backend}/;
            proxy_http_version 1.1;
        }}
        location /http10/ {{
            proxy_pass http://{backend}/;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
        }}
        location /down/ {{
            proxy_pass http://{down}/;
{_CORRECT}
        }}
        location / {{
            return 404;
        }}
"""


class NginxServer:
    """nginx in a subprocess; ``url(path)`` and ``tls_url(path)`` point at it.

    ``locations`` go in a plain server block and, when ``certificate`` (PEM
    certificate chain, PEM key) is given, in a TLS one too; ``ca_pem`` is the CA
    certificate clients should trust (see ``client_context()``). ``proxy()``
    builds the usual configuration (module docstring).
    """

    def __init__(
        self,
        locations: str,
        *,
        host: str = "127.0.0.1",
        certificate: tuple[bytes, bytes] | None = None,
        ca_pem: bytes | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.host = check_loopback(host)
        self.locations = locations
        self.certificate = certificate
        self.ca_pem = ca_pem
        self.startup_timeout = startup_timeout
        self.port = 0
        self.tls_port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def proxy(
        cls,
        backend_port: int,
        *,
        certificate: tuple[bytes, bytes] | None = None,
        ca_pem: bytes | None = None,
    ) -> NginxServer:
        """The reverse proxy of the module docstring, in front of 127.0.0.1:``backend_port``."""
        down = f"127.0.0.1:{free_port()}"
        locations = _locations(f"127.0.0.1:{backend_port}", down)
        return cls(locations, certificate=certificate, ca_pem=ca_pem)

    def client_context(self) -> ssl.SSLContext:
        """A client SSLContext that trusts the CA of the TLS block's certificate."""
        if self.ca_pem is None:
            raise RuntimeError("this NginxServer was given no CA certificate")
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))

    def url(self, path: str = "/good/echo") -> str:
        if not self.port:
            raise RuntimeError("nginx is not running")
        return f"ws://{self.host}:{self.port}{path}"

    def tls_url(self, path: str = "/good/echo", host: str = "localhost") -> str:
        if not self.tls_port:
            raise RuntimeError("nginx has no TLS server block")
        return f"wss://{host}:{self.tls_port}{path}"

    @property
    def directory(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name)

    def error_log(self) -> str:
        """The error log so far ("" before start)."""
        if self._dir is None:
            return ""
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _config(self) -> str:
        root = self.directory
        blocks = f"""
    server {{
        listen {self.host}:{self.port};
        server_name localhost;
{self.locations}
    }}
"""
        if self.certificate is not None:
            blocks += f"""
    server {{
        listen {self.host}:{self.tls_port} ssl;
        server_name localhost;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
{self.locations}
    }}
"""
        temp = "\n".join(
            f"    {kind}_temp_path {root}/{kind}_temp;"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""
master_process off;
worker_processes 1;
error_log {root}/error.log info;
events {{
    worker_connections 64;
}}
http {{
    access_log {root}/access.log;
{temp}
{blocks}
}}
"""

    def __enter__(self) -> NginxServer:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError(nginx_peer_status()[1])
        self._dir = tempfile.TemporaryDirectory(prefix="wsapi-nginx-")
        if self.certificate is not None:
            cert, key = self.certificate
            (self.directory / "cert.pem").write_bytes(cert)
            (self.directory / "key.pem").write_bytes(key)
        try:
            for _attempt in range(5):
                if self._start(binary):
                    return self
            raise RuntimeError(f"nginx did not start:\n{self.error_log()}")
        except BaseException:
            self.stop()
            raise

    def _start(self, binary: str) -> bool:
        """Start on fresh ports; False if a port was taken in the meantime."""
        self.port = free_port(self.host)
        self.tls_port = free_port(self.host) if self.certificate is not None else 0
        root = self.directory
        (root / "nginx.conf").write_text(self._config())
        self._process = subprocess.Popen(
            [
                binary,
                "-p",
                str(root),
                "-c",
                str(root / "nginx.conf"),
                "-e",
                str(root / "error.log"),
                "-g",
                f"daemon off; pid {root}/nginx.pid;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.startup_timeout
        ports = [port for port in (self.port, self.tls_port) if port]
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                if "Address already in use" in self.error_log():
                    self._process = None
                    return False
                raise RuntimeError(f"nginx exited at startup:\n{self.error_log()}")
            if all(_listening(self.host, port) for port in ports):
                return True
            time.sleep(0.02)
        raise RuntimeError(f"nginx did not listen within {self.startup_timeout} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop nginx (SIGTERM, then SIGKILL) and remove its directory."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.port = self.tls_port = 0


def _listening(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False
