"""The network domains, defined once: a gateway listener serves exactly one, a filing is
cleared for some, a deployment serves in some. Names are what configuration and metadata
carry; values are the ``zhijian.types.v1.NetworkDomain`` enum the contracts carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from zhijian.types.v1 import ai_result_pb2 as types_pb

# Public Internet, government extranet, government intranet, in rising order of trust.
NETWORK_DOMAINS: Final[Mapping[str, int]] = {
    "internet": types_pb.NETWORK_DOMAIN_INTERNET,
    "extranet": types_pb.NETWORK_DOMAIN_EXTRANET,
    "intranet": types_pb.NETWORK_DOMAIN_INTRANET,
}
DOMAIN_VALUES: Final = frozenset(NETWORK_DOMAINS.values())


def domain_name(value: int) -> str:
    """``internet`` for ``NETWORK_DOMAIN_INTERNET``; the number itself if unknown."""
    return next((name for name, known in NETWORK_DOMAINS.items() if known == value),
                str(value))
