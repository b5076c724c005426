# docs/examples/reconnecting_listeners.py
"""Listeners on reconnecting() carry over to every connection: a server restart, on trio."""

import trio

import wsapi
from wsapi.testing import echo, serve


async def restarting_server(stop, *, task_status=trio.TASK_STATUS_IGNORED):
    async with serve(echo) as server:
        task_status.started(server.port)
        await stop.wait()
    # Leaving the block closed the connections with 1001 (going away), then the port.
    await trio.sleep(0.3)
    async with serve(echo, port=server.port):  # back, on the same port
        await trio.sleep_forever()


async def main() -> None:
    async with trio.open_nursery() as nursery:
        stop = trio.Event()
        port = await nursery.start(restarting_server, stop)
        connections = wsapi.reconnecting(f"ws://127.0.0.1:{port}/", initial_delay=0.05)
        refused = []
        echoed = trio.Event()

        def on_open(event):
            print("open")
            event.target.send("Hello again!")  # event.target: this connection's WebSocket

        def on_message(event):
            print("message", event.data)
            echoed.set()

        def on_close(event):
            if event.wasClean:
                print("close", event.code)
            else:
                refused.append(event)  # an attempt while the server was down

        connections.onopen = on_open
        connections.onmessage = on_message
        connections.onclose = on_close

        async with connections:
            count = 0
            async for ws in connections:
                count += 1
                await echoed.wait()  # the listeners do the work
                echoed = trio.Event()
                if count == 2:
                    break  # the connection closes with 1000 as the block ends
                stop.set()  # the server restarts
                await ws.wait_closed()
        print("attempts refused while the server was down:", len(refused) > 0)
        nursery.cancel_scope.cancel()


trio.run(main)
