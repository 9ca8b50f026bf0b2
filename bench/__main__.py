"""``python -m bench``: the standard set of benchmarks, each writing bench/results/<name>.json."""

import asyncio

from bench import sessions


async def main() -> None:
    await sessions.main()


if __name__ == "__main__":
    asyncio.run(main())
