#!/usr/bin/env bash
# GPEN WebUI launcher. Creates .venv on first use (or when requirements change), then:
#   ./run.sh [--host H] [--port P] [...]    start the web UI (see: ./run.sh --help)
#   ./run.sh test [pytest arguments]        run the test suite
#   ./run.sh cli INPUT... -o OUTDIR [...]   the command-line batch mode (python -m gpen)
# GPEN_EXTRAS=cluster ./run.sh ...          also install Ray for --cluster (requirements-cluster.txt);
#                                           "./run.sh test" always installs it (the cluster tests need it)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.requirements.sha256"
EXTRAS=${GPEN_EXTRAS:-}
if [ "${1:-}" = "test" ]; then EXTRAS=cluster; fi
case "$EXTRAS" in
    "" | cluster) ;;
    *) echo "GPEN_EXTRAS: unknown extra '$EXTRAS' (known: cluster)" >&2; exit 2 ;;
esac
# The stamp is the requirements' hash, then " cluster" once Ray is installed (kept by later plain runs).
hash=$(cat requirements.txt requirements-dev.txt requirements-cluster.txt | sha256sum | cut -d' ' -f1)
stamp=$(cat "$STAMP" 2>/dev/null || true)
if [ "$stamp" = "$hash cluster" ]; then EXTRAS=cluster; fi
wanted="$hash${EXTRAS:+ $EXTRAS}"

if [ ! -x "$VENV/bin/python" ] || [ "$stamp" != "$wanted" ]; then
    echo "Setting up the Python environment in $VENV (first run: a few minutes, about 5 GB)..." >&2
    "$PYTHON" -m venv "$VENV"
    # torch and torchvision come from the package index as a matching pair; an empty find-links
    # folder keeps pip from taking a local CPU-only torch wheel that torchvision cannot use.
    empty_links=$(mktemp -d)
    PIP_FIND_LINKS="$empty_links" "$VENV/bin/pip" install --quiet --upgrade pip
    PIP_FIND_LINKS="$empty_links" "$VENV/bin/pip" install --quiet -r requirements-dev.txt
    if [ "$EXTRAS" = cluster ]; then
        PIP_FIND_LINKS="$empty_links" "$VENV/bin/pip" install --quiet -r requirements-cluster.txt
    fi
    rmdir "$empty_links"
    echo "$wanted" > "$STAMP"
fi

case "${1:-}" in
    test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;
    cli) shift; exec "$VENV/bin/python" -m gpen "$@" ;;
    *) exec "$VENV/bin/python" app.py "$@" ;;
esac
