"""``--proxy URL``, ``--no-proxy`` and ``--unix-socket PATH``: the way to the server.

Shared by ``wsapi connect`` and ``wsapi doctor`` (``options.add_connection_options``)
and passed to ``WebSocket(proxy=..., unix_socket=...)``; checked before connecting
as the constructor checks them (a usage error, exit status 2). Against real
peers: tinyproxy, microsocks, the ``websockets`` server on TCP and on a Unix socket.
"""

from __future__ import annotations

import argparse
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.cli.helpers import free_port, wsapi
from tests.diagnostics.helpers import server_context
from tests.peers.microsocks import MicrosocksServer
from tests.peers.tinyproxy import TinyproxyServer
from tests.peers.tls_relay import TLSRelay
from tests.peers.websockets_server import WebsocketsServer
from tests.peers.websockets_unix import WebsocketsUnixServer
from wsapi.cli.main import _parser, main
from wsapi.cli.options import UsageError, doctor_command, way_options


def stages(records: list[dict[str, object]]) -> list[object]:
    return [record["stage"] for record in records if record["kind"] == "stage"]


def test_connect_through_an_http_proxy(
    tinyproxy_auth_server: TinyproxyServer, websockets_server: WebsocketsServer
) -> None:
    run = wsapi(
        "connect", websockets_server.url("/echo"), "--proxy", tinyproxy_auth_server.url(),
        "--send", "hello", "--count", "1", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert stages(run.records()) == [
        "proxy",
        f"tcp connect 127.0.0.1:{tinyproxy_auth_server.port}",
        "http",
    ]
    assert [frame["text"] for frame in run.frames("<", "text")] == ["hello"]
    assert "s3cret" not in run.stdout


def test_connect_through_a_socks_proxy(
    microsocks_server: MicrosocksServer, websockets_server: WebsocketsServer
) -> None:
    proxy = microsocks_server.url(scheme="socks5h")
    run = wsapi(
        "connect", websockets_server.url("/echo"), "--proxy", proxy,
        "--send", "hello", "--count", "1", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert stages(run.records())[0] == "proxy"


def test_the_proxy_variables_apply_unless_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
    tinyproxy_server: TinyproxyServer,
    websockets_server: WebsocketsServer,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", tinyproxy_server.url())
    url = websockets_server.url("/echo")
    run = wsapi("connect", url, "--send", "x", "--count", "1", "--jsonl")
    assert run.returncode == 0, run.stderr
    assert stages(run.records())[0] == "proxy"
    run = wsapi("connect", url, "--no-proxy", "--send", "x", "--count", "1", "--jsonl")
    assert run.returncode == 0, run.stderr
    assert stages(run.records())[:2] == ["dns", "tcp"]


def test_connect_to_a_unix_socket(websockets_unix_server: WebsocketsUnixServer) -> None:
    server = websockets_unix_server
    run = wsapi(
        "connect", server.url("/echo"), "--unix-socket", server.path,
        "--send", "over a socket", "--count", "1", "--jsonl",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert stages(run.records()) == ["tcp", f"tcp connect unix:{server.path}", "http"]
    assert [frame["text"] for frame in run.frames("<", "text")] == ["over a socket"]


# -- an https:// proxy: --proxy-cacert, --proxy-insecure ------------------------------------


@pytest.fixture(scope="module")
def proxy_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def https_proxy(tinyproxy_server: TinyproxyServer, proxy_ca: trustme.CA) -> Iterator[str]:
    """tinyproxy behind TLS, with a certificate from a private CA: an https:// proxy URL."""
    cert = proxy_ca.issue_cert("localhost", "127.0.0.1")
    with TLSRelay(tinyproxy_server.port, server_context(cert)) as relay:
        yield f"https://localhost:{relay.port}"


@pytest.fixture
def proxy_ca_file(proxy_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "proxy-ca.pem"
    proxy_ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_an_https_proxy_with_a_private_ca(
    https_proxy: str, proxy_ca_file: str, websockets_server: WebsocketsServer
) -> None:
    url = websockets_server.url("/echo")
    echo = ("--send", "hello", "--count", "1", "--jsonl")
    # certifi's roots do not know the proxy's CA: its certificate is rejected...
    refused = wsapi("connect", url, "--proxy", https_proxy, *echo)
    assert refused.returncode == 3
    assert "the TLS certificate of the proxy" in refused.stderr
    assert f"--proxy {https_proxy}` checks each stage" in refused.stderr
    # ...--proxy-cacert trusts it, and nothing else changes...
    run = wsapi("connect", url, "--proxy", https_proxy, "--proxy-cacert", proxy_ca_file, *echo)
    assert run.returncode == 0, run.stderr
    assert stages(run.records())[0] == "proxy"
    assert [frame["text"] for frame in run.frames("<", "text")] == ["hello"]
    assert run.stderr == ""
    # ...and --proxy-insecure does not check it, saying so.
    run = wsapi("connect", url, "--proxy", https_proxy, "--proxy-insecure", *echo)
    assert run.returncode == 0, run.stderr
    assert "WARNING: --proxy-insecure: the https:// proxy's TLS certificate is NOT checked" in (
        run.stderr
    )


def test_doctor_through_an_https_proxy_with_a_private_ca(
    https_proxy: str, proxy_ca_file: str, websockets_server: WebsocketsServer
) -> None:
    url = websockets_server.url("/echo")
    run = wsapi("doctor", url, "--proxy", https_proxy, "--proxy-cacert", proxy_ca_file, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    proxy_tls = next(stage for stage in report["stages"] if stage["name"] == "proxy-tls")
    assert proxy_tls["status"] == "ok"
    assert "verified: trusted by proxy_ssl, valid for localhost" in proxy_tls["details"]
    run = wsapi("doctor", url, "--proxy", https_proxy, "--json")
    assert run.returncode == 1
    proxy_tls = next(
        stage for stage in json.loads(run.stdout)["stages"] if stage["name"] == "proxy-tls"
    )
    assert proxy_tls["status"] == "failed"


@pytest.mark.parametrize(
    ("way", "note"),
    [
        (["--no-proxy"], "--proxy-cacert has no effect without a proxy"),
        (["--proxy", "http://127.0.0.1:3128"], "has no effect on a proxy that is not https://"),
        (["--proxy", "127.0.0.1:3128"], "has no effect on a proxy that is not https://"),
        (["--unix-socket", "/run/app.sock"], "--proxy-cacert has no effect without a proxy"),
    ],
)
def test_proxy_cacert_without_an_https_proxy_is_noted(
    proxy_ca_file: str, way: list[str], note: str
) -> None:
    notes: list[str] = []
    args = parse("connect", "ws://example.com/", *way, "--proxy-cacert", proxy_ca_file)
    assert way_options(args, notes.append)["proxy_ssl"] is None
    assert len(notes) == 1 and note in notes[0]


def test_proxy_tls_options_are_checked_and_exclusive(
    proxy_ca_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --proxy, the environment may name an https:// proxy: the context is kept.
    context = way_options(parse("doctor", "ws://h/", "--proxy-cacert", proxy_ca_file))["proxy_ssl"]
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(UsageError, match=r"cannot load CA certificates from /nonexistent\.pem"):
        way_options(parse("connect", "ws://h/", "--proxy-cacert", "/nonexistent.pem"))
    assert main(["connect", "ws://h/", "--proxy-cacert", "/nonexistent.pem"]) == 2
    with pytest.raises(SystemExit):
        parse("connect", "ws://h/", "--proxy-cacert", proxy_ca_file, "--proxy-insecure")
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_failed_connection_hints_at_doctor_with_the_same_way() -> None:
    proxy_port, server_port = free_port(), free_port()
    url = f"ws://127.0.0.1:{server_port}/"
    run = wsapi("connect", url, "--proxy", f"http://alice:s3cret@127.0.0.1:{proxy_port}")
    assert run.returncode == 3
    assert "the connection to the proxy http://127.0.0.1:" in run.stderr
    assert (
        f"`wsapi doctor {url} --proxy http://127.0.0.1:{proxy_port}` checks each stage"
        in run.stderr
    )
    assert "(add the proxy URL's user:password to it: secrets are not shown here)" in run.stderr
    assert "s3cret" not in run.stderr


# -- the options, parsed once for both commands ------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(argv)


@pytest.mark.parametrize("command", ["connect", "doctor"])
def test_parsed_into_websocket_arguments(command: str) -> None:
    url = "ws://example.com/"
    none = {"proxy_ssl": None}
    assert way_options(parse(command, url)) == {"proxy": True, "unix_socket": None, **none}
    given = parse(command, url, "--proxy", "socks5h://127.0.0.1:1080")
    assert way_options(given) == {
        "proxy": "socks5h://127.0.0.1:1080",
        "unix_socket": None,
        **none,
    }
    direct = parse(command, url, "--no-proxy")
    assert way_options(direct) == {"proxy": None, "unix_socket": None, **none}
    unix = parse(command, url, "--unix-socket", "/run/app.sock")
    assert way_options(unix) == {"proxy": True, "unix_socket": "/run/app.sock", **none}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--proxy", "ftp://127.0.0.1:21"], "--proxy: unsupported proxy URL 'ftp://127.0.0.1:21'"),
        (["--proxy", "http://127.0.0.1:3128/path"], "--proxy: invalid proxy URL"),
        (
            ["--proxy", "http://127.0.0.1:3128", "--unix-socket", "/run/app.sock"],
            "--proxy and --unix-socket cannot be used together",
        ),
        (["--unix-socket", ""], "--unix-socket: unix_socket must be a non-empty path"),
    ],
)
def test_bad_values_are_usage_errors(args: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        way_options(parse("connect", "ws://example.com/", *args))
    assert message in str(info.value)


@pytest.mark.parametrize("command", ["connect", "doctor"])
def test_a_usage_error_exits_2_before_connecting(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    status = main([command, "ws://127.0.0.1:1/", "--proxy", "gopher://127.0.0.1:70"])
    assert status == 2
    assert "--proxy: unsupported proxy URL 'gopher://127.0.0.1:70'" in capsys.readouterr().err


def test_proxy_and_no_proxy_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("doctor", "ws://example.com/", "--proxy", "http://p:3128", "--no-proxy")
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_doctor_command_keeps_the_way() -> None:
    command, left_out = doctor_command(
        "ws://h/", proxy="http://alice:s3cret@proxy.example:3128", show_secrets=False
    )
    assert command == "wsapi doctor ws://h/ --proxy http://proxy.example:3128"
    assert left_out == ["the proxy URL's user:password"]
    command, left_out = doctor_command("ws://h/", proxy="alice:s3cret@proxy.example:3128")
    assert command == "wsapi doctor ws://h/ --proxy http://proxy.example:3128"
    command, _ = doctor_command("ws://h/", proxy="http://a:b@p:1", show_secrets=True)
    assert command == "wsapi doctor ws://h/ --proxy http://a:b@p:1"
    assert doctor_command("ws://h/", proxy=None) == ("wsapi doctor ws://h/ --no-proxy", [])
    assert doctor_command("ws://h/", unix_socket="/run/app sock") == (
        "wsapi doctor ws://h/ --unix-socket '/run/app sock'",
        [],
    )
    assert doctor_command("ws://h/") == ("wsapi doctor ws://h/", [])
    https = "https://proxy.example:8443"
    assert doctor_command("ws://h/", proxy=https, proxy_cacert="ca.pem") == (
        f"wsapi doctor ws://h/ --proxy {https} --proxy-cacert ca.pem",
        [],
    )
    assert doctor_command("ws://h/", proxy_insecure=True) == (
        "wsapi doctor ws://h/ --proxy-insecure",
        [],
    )
    assert doctor_command("ws://h/", proxy=None, proxy_cacert="ca.pem")[0] == (
        "wsapi doctor ws://h/ --no-proxy"
    )
