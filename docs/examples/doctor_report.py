# docs/examples/doctor_report.py
"""Check a URL stage by stage from code: wsapi.diagnostics.diagnose()."""

import asyncio

from wsapi.diagnostics import diagnose
from wsapi.testing import HandshakeResponse, echo, serve


def refuse(request):
    # A server that wants a token (return None to accept).
    headers = [("WWW-Authenticate", 'Bearer realm="chat"')]
    return HandshakeResponse(401, headers, b"token required\n")


async def main() -> None:
    async with serve(echo) as server:
        report = await diagnose(server.url)
        print("ok:", report.ok)
        print(", ".join(f"{stage.name} {stage.status}" for stage in report.stages))

    async with serve(echo, process_request=refuse) as server:
        report = await diagnose(server.url)
        failure = report.failure
        print("ok:", report.ok)
        print(f"{failure.title} failed: {failure.summary}")
        print("a WebSocket raises", type(failure.error).__name__)
        print("fix:", failure.fix)


asyncio.run(main())
