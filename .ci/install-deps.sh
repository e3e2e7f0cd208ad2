#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain: the PostgreSQL
# server binaries, Dovecot's IMAP server, poppler-utils, Chromium with
# its ChromeDriver for the console's browser tests (tests/api/browser.rs),
# and Prometheus Alertmanager for the alert tests (tests/api/alerts.rs),
# and moto's S3 server from PyPI (tests/api/blob_storage.rs). The API tests
# start a throwaway cluster of their own with them
# (tests/api/support/postgres.rs) and a throwaway Dovecot
# (tests/api/support/dovecot.rs), so no server needs to be running; the
# export tests read PDFs back with pdftotext and pdffonts. Does nothing if
# they are already installed.
set -euo pipefail

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
# moto's server is a real S3 API for the attachment storage tests
# (tests/api/blob_storage.rs); it comes from PyPI, not Debian.
if ! python3 -c 'import moto.server' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
if [[ ${#packages[@]} -eq 0 ]]; then
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
