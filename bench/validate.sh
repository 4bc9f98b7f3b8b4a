#!/usr/bin/env bash
# Hostile-size validation benchmark: platform.yaml files just under the 1 MiB input cap, in the
# shapes that make validators slow (many env variables, secrets, endpoints, dependencies, one
# very long string, deep flow nesting), each validated by a release build. Linear validation
# keeps every shape well under a second. Usage: bench/validate.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
# PCTL=path/to/pctl skips the build (e.g. to compare two binaries).
if [ -z "${PCTL:-}" ]; then
  cargo build --release -q --bin pctl
  PCTL=$PWD/target/release/pctl
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
head = """apiVersion: pctl.dev/v1
kind: Service
metadata:
  name: big-{shape}
  owner: team-payments
spec:
  image: ghcr.io/acme/big
  port: 8080
  environments:
    dev: {{replicas: 1}}
"""
LIMIT = 1024 * 1024 - 1024
def write(shape, body_lines):
    d = os.path.join(work, shape)
    os.makedirs(d)
    text = head.format(shape=shape)
    for line in body_lines:
        if len(text) + len(line) + 1 > LIMIT:
            break
        text += line + "\n"
    open(os.path.join(d, "platform.yaml"), "w").write(text)
def gen(f):
    i = 0
    while True:
        yield f(i)
        i += 1
write("env-vars", ["  env:"] + list(x for _, x in zip(range(10**6), gen(lambda i: f"    VAR_{i}: value-{i}"))))
write("secrets", ["  secrets:"] + list(x for _, x in zip(range(10**6), gen(lambda i: f"    - SECRET_{i}"))))
write("endpoints", ["  endpoints:"] + list(x for _, x in zip(range(10**6), gen(lambda i: f"    - {{path: /p{i}, public: true}}"))))
write("dependencies", ["  dependencies:"] + list(x for _, x in zip(range(10**6), gen(lambda i: f"    - dep-{i}"))))
write("long-string", ["  env:", "    BLOB: " + "x" * (1024 * 1024 - 2048)])
write("deep-flow", ["  env: {A: " + "[" * 100000 + "]" * 100000 + "}"])
PY
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $("$PCTL" --version)"
echo
echo "| shape | size KiB | diagnostics | median wall s | max wall s |"
echo "|---|---:|---:|---:|---:|"
for dir in "$work"/*/; do
  shape=$(basename "$dir")
  size=$(( $(stat -c %s "$dir/platform.yaml") / 1024 ))
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s.%N)
    "$PCTL" validate "$dir/platform.yaml" --format json > "$work/out.json" 2>/dev/null || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("diagnostics", [])))' "$work/out.json" 2>/dev/null || echo "?")
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
  max=$(echo "$sorted" | tail -1)
  printf '| %s | %d | %s | %.3f | %.3f |\n' "$shape" "$size" "$n" "$median" "$max"
done
