#!/usr/bin/env bash
# Clone every student's repository into one folder of submissions.
# Usage: collect.sh ROSTER.tsv SUBMISSIONS/   (ROSTER lines: name<TAB>git URL)
set -euo pipefail

# --8<-- [start:clone]
roster=$1 submissions=$2
mkdir -p "$submissions"
while IFS=$'\t' read -r name url; do
  [ -z "$name" ] && continue
  rm -rf "${submissions:?}/$name"
  git clone --quiet --depth 1 "$url" "$submissions/$name" || echo "could not clone $url for $name" >&2
done < "$roster"
# --8<-- [end:clone]
