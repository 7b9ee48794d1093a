"""``python -m registry.validation --spec SPEC.json --out RESULT.json``

Exit status: 0 measured (whether or not the plan passes: that is ``judge``'s call), 2 the
spec is invalid, 3 an artifact or dataset differs from the filing, 1 any other failure.
RESULT.json is always written: ``{"ok": true, "measurements": ..., "judgement": ...}``
or ``{"ok": false, "error": {"reason": ..., "message": ...}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from registry.validation.judge import judge
from registry.validation.runner import RunnerError, run_validation
from registry.validation.spec import SpecError, ValidationSpec

EXIT_OK, EXIT_FAILED, EXIT_SPEC, EXIT_VERIFICATION = 0, 1, 2, 3


def _failure(reason: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"reason": reason, "message": message}}


def _read_spec(path: Path) -> ValidationSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SpecError(f"{path}: cannot read: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SpecError(f"{path}: not a UTF-8 JSON document: {error}") from None
    return ValidationSpec.from_dict(data)


def validate(spec_path: Path) -> tuple[int, dict[str, Any]]:
    """The exit status and the result document for one spec file."""
    try:
        spec = _read_spec(spec_path)
    except SpecError as error:
        return EXIT_SPEC, _failure("SPEC_INVALID", str(error))
    try:
        measurements = run_validation(spec)
    except RunnerError as error:
        return error.exit_code, _failure(error.reason, str(error))
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        return EXIT_FAILED, _failure("RUNNER_FAILED", f"{type(error).__name__}: {error}")
    verdict = judge(spec.plan, measurements)
    return EXIT_OK, {"ok": True, "measurements": measurements.to_dict(),
                     "judgement": verdict.to_dict()}


def _write_atomically(path: Path, document: dict[str, Any]) -> None:
    # The registry may poll for the file: it must never see half of it.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n",
                       encoding="utf-8")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m registry.validation",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, required=True, help="validation spec (JSON)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the result")
    args = parser.parse_args(argv)
    # MLflow prints run links on stdout; the result goes to --out, chatter to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        status, document = validate(args.spec)
    _write_atomically(args.out, document)
    if not document["ok"]:
        print(f"validation failed: {document['error']['reason']}: "
              f"{document['error']['message']}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
