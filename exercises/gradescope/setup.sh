#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image
# (the zip made by package.py is unpacked in /autograder/source).
# It installs kcv with its three backends in /autograder/venv and creates the
# unprivileged user that grading runs as.
set -euo pipefail

apt-get update
apt-get install -y --no-install-recommends software-properties-common
add-apt-repository -y ppa:deadsnakes/ppa   # kcv needs Python >= 3.11
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv
# The grader's jail (kcv.grading.jail). Where the image forbids the user
# namespaces it needs, grading falls back to resource limits and says so in
# every report.
apt-get install -y --no-install-recommends bubblewrap

python3.11 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
# The CPU builds of the backends (PyPI's default torch wheel carries CUDA), at
# the versions kcv's CI tests (constraints/cpu.txt; torch==2.13.0 takes 2.13.0+cpu).
/autograder/venv/bin/python -m pip install --extra-index-url https://download.pytorch.org/whl/cpu \
    -c /autograder/source/kcv/constraints/cpu.txt "/autograder/source/kcv[all]"

# Grading runs as this user: it cannot write the installed packages or the
# grader, raise its resource limits, or fork past RLIMIT_NPROC.
id -u kcvgrader >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin kcvgrader
chmod -R a+rX /autograder/venv /autograder/source
