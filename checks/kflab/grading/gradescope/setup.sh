#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image.
# The autograder zip holds the course at /autograder/source/course (see
# docs/instructors.md for how to build the zip).
set -euo pipefail

# --8<-- [start:setup]
apt-get install -y python3 python3-venv python3-pip git
cd /autograder/source/course
PYTHON=${PYTHON:-python3} scripts/bootstrap
# Warm the cache of pinned upstream schemas (the grader's sandbox has no network)
# and prove that this image gives the reference solutions full marks.
.venv/bin/kflab check 2 --target solutions --offline  # the stage this assignment grades
# --8<-- [end:setup]
