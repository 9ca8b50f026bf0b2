"""``python -m bench``: the standard set of benchmarks, each writing bench/results/<name>.json."""

import asyncio

from bench import sessions, store


async def main() -> None:
    await sessions.main()
    await store.main()


if __name__ == "__main__":
    asyncio.run(main())
