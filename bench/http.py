"""A minimal HTTP/1.1 keep-alive client over asyncio streams, one connection per worker.

httpx's pool bookkeeping costs more than our server at 64 concurrent connections on two cores, so the load
generator would measure itself; this client does only what a benchmark needs (Content-Length and chunked bodies).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class RawHttpConnection:
    """One persistent connection; requests on it are sequential."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def open(cls, base_url: str) -> RawHttpConnection:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=2**22)
        return cls(reader, writer, f"{parts.hostname}:{parts.port}")

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        chunked = False
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            return status, await self._read_chunked()
        if length > 0:
            return status, await self._reader.readexactly(length)
        return status, b""

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readline()).split(b";")[0], 16)
            if size == 0:
                await self._reader.readline()
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()
