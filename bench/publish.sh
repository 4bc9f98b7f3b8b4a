#!/usr/bin/env bash
# Concurrent publishers: K `pctl publish` processes (one service each, default settings) start
# at once against one deploy repository served by `git daemon` on 127.0.0.1, as K application
# pipelines merging at the same moment. Prints, per K: publishes that landed, wall time of the
# whole burst, throughput (publishes per second), median, p95 and max latency of one publish
# (process start to exit), and attempts. Each K runs RUNS times (default 3) on a fresh repository.
# Usage: bench/publish.sh [K ...]   (default: 8 32 64)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bin pctl --example gen_org
PCTL=$PWD/target/release/pctl
GEN=$PWD/target/release/examples/gen_org
SHA=0000000000000000000000000000000000000000
runs=${RUNS:-3}
work=$(mktemp -d)
daemon=""
cleanup() { [ -z "$daemon" ] || kill "$daemon" 2> /dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(8 32 64)
max=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)

# The services (gen_org's mix), each with the repository publish requires.
"$GEN" "$max" "$work/org" > /dev/null
for f in "$work"/org/svc-*/platform.yaml; do
  name=$(basename "$(dirname "$f")")
  sed -i "s|^  name: $name\$|  name: $name\n  repository: https://github.com/acme/$name|" "$f"
done

mkdir "$work/served"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
git daemon --listen=127.0.0.1 --port="$port" --base-path="$work/served" --export-all \
  --enable=receive-pack --reuseaddr --max-connections=256 "$work/served" 2> "$work/daemon.log" &
daemon=$!
sleep 1

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $("$PCTL" --version)"
echo
echo "| publishers | run | landed | wall s | publishes/s | median s | p95 s | max s | attempts mean / max |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in "${sizes[@]}"; do
  for run in $(seq "$runs"); do
    name="deploy-$k-$run.git"
    git init -q --bare -b main "$work/served/$name"
    url="git://127.0.0.1:$port/$name"
    res="$work/res-$k-$run"
    mkdir "$res"
    start=$(date +%s.%N)
    pids=()
    for i in $(seq 0 $((k - 1))); do
      svc=$(printf 'svc-%05d' "$i")
      (
        s=$(date +%s.%N)
        set +e
        "$PCTL" publish "$work/org/$svc" --org "$work/org/pctl-org.yaml" --source-sha "$SHA" \
          --deploy-repo "$url" --format json > "$res/$svc.json" 2> "$res/$svc.err"
        code=$?
        echo "$code $s $(date +%s.%N)" > "$res/$svc.time"
      ) &
      pids+=($!)
    done
    wait "${pids[@]}"
    end=$(date +%s.%N)
    python3 - "$res" "$start" "$end" "$k" "$run" << 'EOF'
import json, os, sys, statistics
res, start, end, k, run = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lat, attempts, ok = [], [], 0
for f in sorted(os.listdir(res)):
    if f.endswith(".time"):
        code, s, e = open(os.path.join(res, f)).read().split()
        lat.append(float(e) - float(s))
        if code == "0":
            ok += 1
            attempts.append(json.load(open(os.path.join(res, f[:-5] + ".json")))["summary"]["attempts"])
lat.sort()
p95 = lat[min(len(lat) - 1, int(round(0.95 * len(lat) + 0.5)) - 1)]
wall = end - start
print(f"| {k} | {run} | {ok}/{k} | {wall:.1f} | {ok / wall:.2f} | {statistics.median(lat):.1f} | {p95:.1f} | {lat[-1]:.1f} | "
      f"{(sum(attempts) / len(attempts)) if attempts else 0:.1f} / {max(attempts) if attempts else 0} |")
EOF
    # The repository must hold exactly one linear commit per publisher.
    n=$(git -C "$work/served/$name" rev-list --count main 2> /dev/null || echo 0)
    merges=$(git -C "$work/served/$name" rev-list --merges --count main 2> /dev/null || echo 0)
    [ "$n" = "$k" ] && [ "$merges" = 0 ] || echo "  (!) $name: $n commits, $merges merges, expected $k and 0"
  done
done
