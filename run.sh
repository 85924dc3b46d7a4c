#!/usr/bin/env bash
# GPEN WebUI launcher. Creates .venv on first use (or when requirements change), then:
#   ./run.sh [--host H] [--port P] [...]    start the web UI (see: ./run.sh --help)
#   ./run.sh test [pytest arguments]        run the test suite
#   ./run.sh cli INPUT... -o OUTDIR [...]   the command-line batch mode (python -m gpen)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.requirements.sha256"
wanted=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)

if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    echo "Setting up the Python environment in $VENV (first run: a few minutes, about 5 GB)..." >&2
    "$PYTHON" -m venv "$VENV"
    # torch and torchvision come from the package index as a matching pair; an empty find-links
    # folder keeps pip from taking a local CPU-only torch wheel that torchvision cannot use.
    empty_links=$(mktemp -d)
    PIP_FIND_LINKS="$empty_links" "$VENV/bin/pip" install --quiet --upgrade pip
    PIP_FIND_LINKS="$empty_links" "$VENV/bin/pip" install --quiet -r requirements-dev.txt
    rmdir "$empty_links"
    echo "$wanted" > "$STAMP"
fi

case "${1:-}" in
    test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;
    cli) shift; exec "$VENV/bin/python" -m gpen "$@" ;;
    *) exec "$VENV/bin/python" app.py "$@" ;;
esac
