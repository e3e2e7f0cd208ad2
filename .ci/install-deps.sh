#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain: the PostgreSQL
# server binaries, Dovecot's IMAP server, poppler-utils, Chromium with
# its ChromeDriver for the console's browser tests (tests/api/browser.rs),
# Prometheus Alertmanager for the alert tests (tests/api/alerts.rs),
# Node.js with npm for the single sign-on tests' OpenID provider (npm's
# oidc-provider, `npm ci` in tests/oidc from its committed lock file;
# tests/api/sso.rs), and moto's S3 server from PyPI
# (tests/api/blob_storage.rs). The API tests
# start a throwaway cluster of their own with them
# (tests/api/support/postgres.rs) and a throwaway Dovecot
# (tests/api/support/dovecot.rs), so no server needs to be running; the
# export tests read PDFs back with pdftotext and pdffonts. Does nothing if
# they are already installed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
# Debian keeps initdb off PATH, under /usr/lib/postgresql/<version>/bin.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    packages+=(postgresql)
fi
if ! command -v dovecot >/dev/null && [[ ! -x /usr/sbin/dovecot ]]; then
    packages+=(dovecot-imapd)
fi
# pdftotext and pdffonts read the PDF exports back (src/export tests).
if ! command -v pdftotext >/dev/null || ! command -v pdffonts >/dev/null; then
    packages+=(poppler-utils)
fi
# A real headless Chromium drives the console; the driver comes matched.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    packages+=(chromium chromium-driver)
fi
# A real Alertmanager delivers to the alert intake (tests/api/alerts.rs).
if ! command -v prometheus-alertmanager >/dev/null; then
    packages+=(prometheus-alertmanager)
fi
# A real, OpenID Certified provider for single sign-on (tests/oidc).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
fi

# The provider's packages, exactly as locked; again when the lock changed.
npm_ci() {
    local dir=tests/oidc
    if [[ ! -d $dir/node_modules/oidc-provider \
        || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
        npm ci --prefix "$dir" --no-audit --no-fund
    fi
}

# moto's server is a real S3 API for the attachment storage tests
# (tests/api/blob_storage.rs); it comes from PyPI, not Debian.
if ! python3 -c 'import moto.server' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
# schemathesis fuzzes the API from its OpenAPI document (tests/api/api_fuzz.rs).
if [[ $(st --version 2>/dev/null) != "st, version 4.32.5" ]]; then
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5'
fi
if [[ ${#packages[@]} -eq 0 ]]; then
    npm_ci
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null; then
    as_root=(sudo)
else
    echo "install-deps: ${packages[*]} missing and installing needs root;" >&2
    echo "install-deps: run as root, install sudo, or run: apt-get install -y ${packages[*]}" >&2
    exit 1
fi

"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${packages[@]}"
npm_ci
