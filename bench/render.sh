#!/usr/bin/env bash
# Organisation-wide render benchmark: synthetic organisations of N services
# (examples/gen_org.rs), each rendered to a fresh folder, re-rendered unchanged, and
# re-rendered with one service changed; compared with `cp -r` of the very tree pctl wrote.
# Prints a markdown table. Usage: bench/render.sh [N ...]   (default: 100 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin pctl --example gen_org
PCTL=$PWD/target/release/pctl
GEN=$PWD/target/release/examples/gen_org
SHA=0000000000000000000000000000000000000000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 10000)

# measure CMD...: sets wall, cpu (user+sys), rss_mib; stdout of CMD in $work/out
measure() {
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
  read -r wall user sys rss < "$work/time"
  cpu=$(echo "$user + $sys" | bc)
  rss_mib=$((rss / 1024))
}
written() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["added"]+s["changed"]+s["deleted"])' "$work/out"; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg); $("$PCTL" --version)"
echo
echo "| services | scenario | wall s | CPU s | peak RSS MiB | files written | wall / cp -r |"
echo "|---:|---|---:|---:|---:|---:|---:|"
# ext4 is slow to create files for a while after many were deleted (it avoids reusing their
# inodes): whoever writes first after a big rm -rf pays. Nothing is deleted until the end, and
# every measured command starts after a sync and a pause, so pctl and cp -r meet the same disk.
settle() { sync; sleep "${SETTLE_SECONDS:-30}"; }
for n in "${sizes[@]}"; do
  org="$work/org-$n"; out="$work/out-$n"
  "$GEN" "$n" "$org"
  settle
  measure "$PCTL" render --all "$org" --source-sha "$SHA" --format json --out "$out"
  full=$wall; full_row="| $n | full render, fresh folder | $wall | $cpu | $rss_mib | $(written) |"
  files=$(find "$out" -type f | wc -l)
  settle
  measure cp -r "$out" "$work/copy-$n"
  cp_wall=$wall
  echo "$full_row $(echo "scale=2; $full / $cp_wall" | bc) |"
  echo "| $n | \`cp -r\` of that tree ($files files) | $cp_wall | $cpu | $rss_mib | $files | 1.00 |"
  settle
  measure "$PCTL" render --all "$org" --source-sha "$SHA" --format json --out "$out"
  echo "| $n | re-render, nothing changed | $wall | $cpu | $rss_mib | $(written) | $(echo "scale=2; $wall / $cp_wall" | bc) |"
  sed -i 's/LOG_LEVEL: info/LOG_LEVEL: debug/' "$org/svc-00001/platform.yaml"
  settle
  measure "$PCTL" render --all "$org" --source-sha "$SHA" --format json --out "$out"
  echo "| $n | re-render, one service changed | $wall | $cpu | $rss_mib | $(written) | $(echo "scale=2; $wall / $cp_wall" | bc) |"
done
