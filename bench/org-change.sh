#!/usr/bin/env bash
# An organisation-wide change end to end: N services are published to a deploy repository,
# then one change to the organisation config that touches every service (staging's cluster)
# is rendered, diffed, summarised (summary.md, part-N.md, plan.json) and published as one
# commit on a review branch, by one `pctl publish --all --branch ... --report-dir ...`.
# Compared with a full render of the same organisation into a fresh folder, in the same run.
# Usage: bench/org-change.sh [N]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin pctl --example gen_org
PCTL=$PWD/target/release/pctl
GEN=$PWD/target/release/examples/gen_org
SHA=0000000000000000000000000000000000000000
n=${1:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$GEN" "$n" "$work/org" > /dev/null
# publish requires each service's repository
for f in "$work"/org/svc-*/platform.yaml; do
  name=$(basename "$(dirname "$f")")
  sed -i "s|^  name: $name\$|  name: $name\n  repository: https://github.com/acme/$name|" "$f"
done
git init -q --bare -b main "$work/deploy.git"

measure() {
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
  read -r wall user sys rss < "$work/time"
}
row() { echo "| $n | $1 | $wall | $(echo "$user + $sys" | bc) | $((rss / 1024)) | $2 |"; }
common=(--all "$work/org" --org "$work/org/pctl-org.yaml" --source-sha "$SHA" --format json)
written() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["added"]+s["changed"]+s["deleted"])' "$work/out"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $("$PCTL" --version)"
echo
echo "| services | step | wall s | CPU s | peak RSS MiB | files |"
echo "|---:|---|---:|---:|---:|---:|"
sync; sleep "${SETTLE_SECONDS:-20}"
measure "$PCTL" render "${common[@]}" --out "$work/fresh"
full=$wall
row "full render into a fresh folder (the yardstick)" "$(written)"
rm -rf "$work/fresh"
sync; sleep "${SETTLE_SECONDS:-20}"
measure "$PCTL" publish "${common[@]}" --deploy-repo "$work/deploy.git"
row "first publish to main (setup)" "$(written)"
sed -i 's/cluster: stg-eu1/cluster: stg-eu2/' "$work/org/pctl-org.yaml"
sync; sleep "${SETTLE_SECONDS:-20}"
measure "$PCTL" publish "${common[@]}" --deploy-repo "$work/deploy.git" \
  --branch pctl/org-change --report-dir "$work/review"
row "the change: render, diff, summary, one commit on a review branch" "$(written)"
summary=$(wc -c < "$work/review/summary.md")
commits=$(git -C "$work/deploy.git" rev-list --count main..pctl/org-change)
echo
echo "end to end: $wall s = $(echo "scale=2; $wall / $full" | bc)x the full render; summary.md $summary bytes; $commits commit(s) on the review branch"
