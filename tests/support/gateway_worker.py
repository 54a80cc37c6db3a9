"""A serverless test worker (standard library only): an HTTP/1.1 server on the port in
``$PORT`` (default 8080) that the gateway's tests and bench run as an endpoint's init
command (``exec python3 -c "$WORKER_PY"`` with this file's text in ``WORKER_PY``).

Each worker draws a name at start; every answer carries it (``X-Worker`` and the body):
    GET  /who                 its name
    GET  /work?ms=2           its name after 2 ms of CPU work
    GET  /sse?n=5&gap=0.2     server-sent events ``data: tok<i>``, one per ``gap`` seconds,
                              chunked, each chunk written as the event is ready
    GET  /exit/<name>         the worker named <name> dies without answering; others answer
    POST /echo                the body back (Content-Length or chunked bodies)
    GET  /ws                  a WebSocket echoing each message back
Keep-alive is honoured (HTTP/1.1), so that a client can measure the worker itself.
"""

import asyncio
import base64
import hashlib
import os
import struct
import sys
import time
import uuid

NAME = uuid.uuid4().hex[:8]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def answer(status, body, headers=(), keep=True):
    lines = [f"HTTP/1.1 {status} X", f"X-Worker: {NAME}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if not keep:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_body(reader, headers):
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int((await reader.readline()).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return data
            data += await reader.readexactly(size)
            await reader.readline()
    return b""


async def sse(writer, query):
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    count, gap = int(params.get("n", "5")), float(params.get("gap", "0.2"))
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\nX-Worker: " + NAME.encode() + b"\r\n\r\n"
    )
    await writer.drain()
    for i in range(count):
        await asyncio.sleep(gap)
        event = f"data: tok{i} {NAME} {time.time():.6f}\n\n".encode()  # when it was sent
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def websocket(reader, writer, headers):
    accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    await writer.drain()
    while True:
        first, second = await reader.readexactly(2)
        opcode, size = first & 0x0F, second & 0x7F
        if size == 126:
            (size,) = struct.unpack(">H", await reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack(">Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(size)))
        if opcode == 8:
            writer.write(b"\x88" + bytes([len(data)]) + data)
            await writer.drain()
            return
        if opcode in (1, 2):
            length = (
                bytes([len(data)]) if len(data) < 126 else b"\x7e" + struct.pack(">H", len(data))
            )
            writer.write(bytes([0x80 | opcode]) + length + data)
            await writer.drain()


async def handle(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, version = line.decode().split(" ", 2)
            headers = {}
            while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = h.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            path, _, query = target.partition("?")
            keep = headers.get("connection", "").lower() != "close" and "1.1" in version
            body = await read_body(reader, headers)
            if path == "/ws" and headers.get("upgrade", "").lower() == "websocket":
                await websocket(reader, writer, headers)
                return
            if path == "/sse":
                await sse(writer, query)
                return
            if path.startswith("/exit/"):
                if path[6:] == NAME:
                    os._exit(3)
                writer.write(answer(200, NAME.encode(), keep=keep))
            elif path == "/echo":
                writer.write(
                    answer(200, body, [("Content-Type", "application/octet-stream")], keep)
                )
            elif path == "/work":  # ?ms=N: N ms of CPU first, like a (tiny) model
                until = time.perf_counter() + float(query.partition("ms=")[2] or 1) / 1000
                while time.perf_counter() < until:
                    pass
                writer.write(answer(200, NAME.encode(), [("Content-Type", "text/plain")], keep))
            elif path == "/who" or path == "/":
                writer.write(answer(200, NAME.encode(), [("Content-Type", "text/plain")], keep))
            else:
                writer.write(answer(404, b"no such path", keep=keep))
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def main():
    port = int(os.environ.get("PORT", "8080"))
    server = await asyncio.start_server(handle, "0.0.0.0", port, backlog=1024)
    print(f"worker {NAME} listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__" or sys.argv[0] == "-c":
    asyncio.run(main())
