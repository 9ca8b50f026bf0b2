"""``python -m bench``: the standard set of benchmarks, each writing bench/results/<name>.json."""

import asyncio

from bench import browser, playback, sessions, store


async def main() -> None:
    await sessions.main()
    await store.main()
    await playback.main()
    await browser.main()


if __name__ == "__main__":
    asyncio.run(main())
