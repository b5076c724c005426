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

import ssl
import subprocess

from tests.peers.process import ProcessServer, binary_status, find_binary, free_port

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
    return find_binary("nginx", _CANDIDATES)


def nginx_peer_status() -> tuple[bool, str]:
    """``(available, reason)`` for the nginx peer."""
    return binary_status("nginx", nginx_binary(), "nginx", INSTALL_COMMAND)


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


class NginxServer(ProcessServer):
    """nginx in a subprocess; ``url(path)`` and ``tls_url(path)`` point at it.

    ``locations`` go in a plain server block and, when ``certificate`` (PEM
    certificate chain, PEM key) is given, in a TLS one too; ``ca_pem`` is the CA
    certificate clients should trust (see ``client_context()``). ``proxy()``
    builds the usual configuration (module docstring).
    """

    name = "nginx"
    log_name = "error.log"

    def __init__(
        self,
        locations: str,
        *,
        host: str = "127.0.0.1",
        certificate: tuple[bytes, bytes] | None = None,
        ca_pem: bytes | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        super().__init__(host=host, startup_timeout=startup_timeout)
        self.locations = locations
        self.certificate = certificate
        self.ca_pem = ca_pem
        self.tls_port = 0

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

    def binary(self) -> str | None:
        return nginx_binary()

    def missing(self) -> str:
        return nginx_peer_status()[1]

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

    def _prepare(self) -> None:
        if self.certificate is not None:
            cert, key = self.certificate
            (self.directory / "cert.pem").write_bytes(cert)
            (self.directory / "key.pem").write_bytes(key)

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        self.port = free_port(self.host)
        self.tls_port = free_port(self.host) if self.certificate is not None else 0
        root = self.directory
        (root / "nginx.conf").write_text(self._config())
        return subprocess.Popen(
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

    def _ports(self) -> list[int]:
        return [port for port in (self.port, self.tls_port) if port]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop nginx (SIGTERM, then SIGKILL) and remove its directory."""
        super().stop(timeout)
        self.tls_port = 0
