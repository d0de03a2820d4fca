#!/usr/bin/env bash
# Creates the virtual environment and installs the project with its pinned dependencies.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade "pip==26.3"
"$venv/bin/pip" install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,postgres]'
