"""gRPC metadata keys and trailers, fixed here so every component spells them alike."""

from __future__ import annotations

from typing import Final

# Request metadata.
AUTHORIZATION: Final = "authorization"
DATA_LEVEL: Final = "x-zhijian-data-level"
ASSERTION: Final = "x-zhijian-assertion"
REQUEST_ID: Final = "x-zhijian-request-id"

# Response trailers: which model answered, under which filing, at what data level.
MODEL_VERSION: Final = "x-zhijian-model-version"
FILING_ID: Final = "x-zhijian-filing-id"
EFFECTIVE_LEVEL: Final = "x-zhijian-effective-level"

# google.rpc.ErrorInfo.domain for every error the platform raises.
ERROR_DOMAIN: Final = "zhijian.platform"
