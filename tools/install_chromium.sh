#!/bin/sh
# Installs Debian's Chromium for the book's browser test (tests/test_book.py)
# when /usr/bin/chromium is missing. Needs root or sudo and the Debian mirror.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "Installing Debian's chromium for the book's browser test..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
/usr/bin/chromium --version
