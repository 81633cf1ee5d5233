#!/usr/bin/env bash
# Install Debian's chromium when it is missing, for the browser tests (tests/viz, tests/notebooks),
# which drive it through Playwright's executable_path. Used by the README's test command and by
# .ci/run. Never `playwright install` (that downloads a browser from outside the package registry).
#
#   scripts/install_chromium.sh          # no-op when chromium (or $SIMKIT_CHROMIUM) is there
#
# Needs root or sudo; tries `apt-get install` first (cached package lists), then `apt-get update`.
set -euo pipefail

if [ -n "${SIMKIT_CHROMIUM:-}" ] && [ -x "${SIMKIT_CHROMIUM}" ]; then
    echo "chromium: using \$SIMKIT_CHROMIUM=${SIMKIT_CHROMIUM}"
    exit 0
fi
if command -v chromium >/dev/null 2>&1; then
    echo "chromium: $(command -v chromium) is installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing and this is not a Debian/Ubuntu system (no apt-get): install" \
        "Chromium with your package manager and set SIMKIT_CHROMIUM=/path/to/chromium," \
        "or run the tests with -m 'not browser'" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "chromium is missing; installing it needs root: run 'apt-get install -y chromium'" \
            "as root, or run the tests with -m 'not browser'" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get install -y -q chromium \
    || { "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q chromium; }
command -v chromium >/dev/null 2>&1 || {
    echo "apt-get finished but no chromium on PATH" >&2
    exit 1
}
echo "chromium: installed $(command -v chromium)"
