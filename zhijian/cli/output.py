"""Readable output by default, ``--json`` for machines; errors go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def progress(self, message: str) -> None:
        """Progress of slow work; on stderr so ``--json`` output stays parseable."""
        print(message, file=sys.stderr, flush=True)

    def result(self, data: Any, text: str) -> None:
        if self.as_json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            print(text)

    def error(self, message: str, **details: Any) -> None:
        if self.as_json:
            print(json.dumps({"error": message, **details}, ensure_ascii=False))
        else:
            print(f"error: {message}", file=sys.stderr)
            for key, value in details.items():
                print(f"  {key}: {value}", file=sys.stderr)
