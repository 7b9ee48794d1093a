#!/bin/sh
# Lint the API contracts under proto/ with buf, offline: scripts/lint_proto.sh [buf flags]
# (buf from the pinned npm devDependency; Google's protos from proto/third_party,
# see buf.yaml and scripts/gen_proto.py --lint).
set -eu
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" scripts/gen_proto.py --lint "$@"
