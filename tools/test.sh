#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, including the
# interoperability tests that run the OASIS stix2-validator, stix2-patterns
# and taxii2-client against what we compile and serve. Sets up what it needs
# (a Python virtualenv with those packages, from PyPI) on the first run.
# Of the objects compiled from the generated 100,000-record exports the
# validator gets a spread sample here; tools/validate-full validates them all.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/interop/setup.sh
# nginx fronts the static export in tests/it/static_export.rs; openssl makes
# its htpasswd hashes and test certificates.
tools/need-apt /usr/sbin/nginx:nginx openssl:openssl
# tinyproxy is the proxy of the upstream TAXII input tests (tests/it/upstream.rs).
tools/need-apt /usr/bin/tinyproxy:tinyproxy
# The package test (tests/it/package.rs) installs the .deb (it depends on
# adduser), verifies its units with systemd-analyze and its man pages with man.
tools/need-apt adduser:adduser systemd-analyze:systemd man:man-db
# The console's browser test (tests/it/console.rs) drives headless Chromium
# through chromedriver (tools/console/browser_check.py).
tools/need-apt /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver
export TAXII_EDGE_PYTHON="$PWD/.venv/bin/python"

# Library, binaries, integration tests and examples; the criterion benches
# (benches/) are run by `cargo bench`, not here: they build 1M-object feeds.
cargo test --locked --no-fail-fast "$@"
