#!/bin/sh
# Lint the API contracts under proto/ with buf, offline.
#
#   scripts/lint_proto.sh [extra buf lint flags, e.g. --error-format=json]
#
# buf comes from the pinned npm devDependency @bufbuild/buf (`npm ci` installs it into
# node_modules/). Google's common protos and the well-known types are not fetched from the
# Buf Schema Registry: gen_proto.py --buf-deps copies them from the Python environment
# (googleapis-common-protos, grpcio-tools) into .buf-deps/, the second module of buf.yaml.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if [ ! -e node_modules/.bin/buf ]; then
    echo "lint_proto: buf is not installed; run 'npm ci' in $(pwd)" >&2
    exit 2
fi
"$PYTHON" scripts/gen_proto.py --buf-deps >/dev/null
exec npx --no-install buf lint "$@"
