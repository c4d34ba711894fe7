#!/usr/bin/env bash
# Make sure a headless Chromium is installed for the browser tests of `nosana-tui serve`
# (tests/ui/test_serve.py), from Debian's `chromium` package. Safe to run again and again.
#
#   scripts/browser-env.sh
#
# What it may do: apt-get install chromium (apt-get update first if the package lists are
# missing or the install fails with the cached ones), as root or with passwordless sudo.
# PyPI's playwright is not used: its browser download needs a host the test machines cannot
# reach; the tests drive Debian's chromium over the DevTools protocol themselves.
set -euo pipefail

say() { echo "browser-env: $*"; }
die() {
    echo "browser-env: ERROR: $*" >&2
    exit 1
}

found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

if found; then
    say "chromium is installed: $(chromium --version 2>/dev/null || chromium-browser --version)"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or passwordless sudo) to install chromium"
    SUDO=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install chromium yourself"
export DEBIAN_FRONTEND=noninteractive
opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    say "apt-get update (no package lists yet)"
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
fi
say "apt-get install chromium"
if ! "${SUDO[@]}" apt-get install "${opts[@]}" chromium; then
    say "install failed with the cached package lists; apt-get update and retry"
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
    "${SUDO[@]}" apt-get install "${opts[@]}" chromium || die "apt-get install chromium failed"
fi
found || die "chromium installed but not found on PATH"
say "chromium is installed: $(chromium --version 2>/dev/null || true)"
