#!/usr/bin/env bash
# Benchmark of `pctl metrics` on a generated deploy history (release build).
#
#   bash bench/metrics.sh            # 100,000 commits
#   bash bench/metrics.sh 20000      # another size
#
# Generates a bare deploy repository with examples/gen_history.rs (pctl-style deploy commits,
# reverts, rollbacks, hot-fixes, commits not made by pctl), then times `pctl metrics` on it:
# best wall time of 3 runs and the peak memory, printed as a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"

cargo build --release --quiet --bin pctl --example gen_history
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
repo="$dir/deploy.git"

start=$(date +%s.%N)
target/release/examples/gen_history "$repo" --commits "$n"
gen=$(echo "$(date +%s.%N) - $start" | bc)

measure() { # prints "best-wall-seconds peak-rss-MiB" of 3 runs of pctl metrics "$@"
  local best="" rss=0 t r
  for _ in 1 2 3; do
    local threads=""
    if [ "${*: -1}" = "--threads1" ]; then threads=1; set -- "${@:1:$#-1}"; fi
    RAYON_NUM_THREADS="$threads" /usr/bin/time -f "%e %M" -o "$dir/time" \
      target/release/pctl metrics --deploy-repo "$repo" "$@" >"$dir/out"
    read -r t r <"$dir/time"
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    if [ "$r" -gt "$rss" ]; then rss=$r; fi
  done
  echo "$best $((rss / 1024))"
}

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
echo "history: $n commits ($(du -sh "$repo" | cut -f1) packed), generated in ${gen%.*}s"
echo
echo "| run | wall (best of 3) | peak memory |"
echo "| --- | ---: | ---: |"
row() {
  local label="$1"; shift
  read -r t r < <(measure "$@")
  echo "| \`pctl metrics $label\` | ${t} s | ${r} MiB |"
}
all=(--since 2024-01-01 --until 2030-01-01)
row "--since 2024-01-01 (whole history) --format json" "${all[@]}" --format json
row "--since 2024-01-01 --by service" "${all[@]}" --by service
row "--since 2024-01-01 --by team --format markdown" "${all[@]}" --by team --format markdown
row "--since 90d --until 2025-06-01" --since 90d --until 2025-06-01
if command -v git >/dev/null; then
  # A clone holds one pack: repack (the generator writes one pack per 5,000 commits).
  git -C "$repo" repack -adq
  row "--since 2024-01-01 --format json (repacked: one pack, as a clone)" "${all[@]}" --format json
  row "--since 2024-01-01 --format json (repacked, RAYON_NUM_THREADS=1)" "${all[@]}" --format json --threads1
fi
echo
echo "sample output (--since 90d --until 2025-06-01):"
target/release/pctl metrics --deploy-repo "$repo" --since 90d --until 2025-06-01 | sed -n '1,9p'
