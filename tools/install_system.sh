#!/bin/sh
# Installs the Debian packages the test suite needs, each only when missing:
#   chromium     the book's browser test (tests/test_book.py)
#   bubblewrap   the grader's jail (kcv.grading.jail; tests/test_grading.py)
# Needs root or sudo and the Debian mirror.
#
# With a Python as its argument (make passes the environment's), it also lets
# other users start that Python: the Gradescope script's test grades as the
# unprivileged user `nobody` (tests/test_grading.py), as Gradescope grades as
# its own. It gives others search permission (x, not read) on the folders
# above the environment and its base installation (pyenv puts those under
# /root, which is private), and nothing else.
set -eu
if [ $# -gt 0 ] && [ "$(id -u)" = 0 ]; then
    for target in "$(cd "$(dirname "$1")" && pwd)/python" "$(readlink -f "$1")"; do
        dir="$(dirname "$target")"
        while [ "$dir" != "/" ] && [ "$dir" != "." ]; do
            [ -x "$dir" ] && [ "$(stat -c %A "$dir" | cut -c10)" = x ] || chmod o+x "$dir"
            dir="$(dirname "$dir")"
        done
    done
fi
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
