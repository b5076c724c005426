"""wsapi: the browser/Node.js WebSocket API for Python, on asyncio and trio."""
