"""F7 floor: a Litestar hello-world served with the same uvicorn settings as ``msr serve``."""

import os

import uvicorn
from litestar import Litestar, get


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/hello")
async def hello() -> dict[str, str]:
    return {"data": "hello"}


if __name__ == "__main__":
    uvicorn.run(
        Litestar([health, hello]),
        host="127.0.0.1",
        port=int(os.environ["BENCH_PORT"]),
        ws="websockets-sansio",
        log_config=None,
        access_log=False,
    )
