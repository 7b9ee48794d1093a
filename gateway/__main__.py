"""``python -m gateway``: one gateway, for the network domain its environment names."""

from __future__ import annotations

import asyncio
import sys

from gateway.server import run
from gateway.settings import GatewaySettings
from zhijian.config import ConfigError


def main() -> int:
    try:
        settings = GatewaySettings.from_env()
    except ConfigError as error:
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
