#!/bin/sh
# Installs the Debian packages the test suite needs, each only when missing:
#   chromium     the book's browser test (tests/test_book.py)
#   bubblewrap   the grader's jail (kcv.grading.jail; tests/test_grading.py)
# Needs root or sudo and the Debian mirror.
set -eu
MISSING=""
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
command -v bwrap >/dev/null 2>&1 || MISSING="$MISSING bubblewrap"
if [ -z "$MISSING" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "Installing Debian's$MISSING for the tests..."
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # one word per package
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
/usr/bin/chromium --version
bwrap --version
