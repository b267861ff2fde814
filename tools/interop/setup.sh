#!/usr/bin/env bash
# Creates .venv with the OASIS reference tools the interop tests run.
# Idempotent: does nothing when they are already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PKGS="stix2-validator stix2-patterns taxii2-client medallion opentaxii"
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import stix2validator, stix2patterns, taxii2client, medallion, opentaxii' 2>/dev/null; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check $PKGS
.venv/bin/python -c 'import stix2validator, stix2patterns, taxii2client, medallion, opentaxii'
