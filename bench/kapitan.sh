#!/usr/bin/env bash
# pctl vs Kapitan on the same workload: N services x 3 environments (dev, staging, prod).
#
#   bash bench/kapitan.sh            # N = 100 and 1000
#   bash bench/kapitan.sh 20 100     # other sizes
#
# For each N: `gen_org N` (examples/gen_org.rs) writes the pctl organisation and
# bench/kapitan/gen_kapitan.py N writes the equivalent Kapitan project (one target per
# service-environment, inventory classes common/env/team/kind/feature/resource, jinja2
# templates from bench/kapitan/templates/ rendering the same manifests, Terraform, CI workflow
# and catalog files as pctl). Then it times, with /usr/bin/time:
#   - `kapitan compile -p 2` (median of 3 runs; 1 run for N >= 1000), per inventory backend;
#   - `pctl render --all ORG --source-sha 0...0 --format json --out FRESH_DIR` (median of 3,
#     a fresh output folder each run),
# and prints a markdown table: wall s, CPU s (user+sys, children included), peak RSS MiB,
# files written, and the ratio of Kapitan's wall time to pctl's.
#
# Kapitan: installed from PyPI into a virtualenv at $KAPITAN_VENV (default
# ${XDG_CACHE_HOME:-~/.cache}/pctl-bench/kapitan-venv, outside the repository), created on
# first use with:
#   python3 -m venv "$KAPITAN_VENV"
#   "$KAPITAN_VENV/bin/pip" install "kapitan==$KAPITAN_VERSION" "reclass-rs==$RECLASS_RS_VERSION"
# (defaults 0.36.3 and 0.11.0). reclass-rs is Kapitan's Rust inventory backend
# (`--inventory-backend reclass-rs`); if it cannot be installed, only the default (Python
# reclass) backend is measured.
#
# Environment:
#   KAPITAN_VENV      virtualenv holding kapitan (created if missing)
#   KAPITAN_BACKENDS  backends to time (default: "reclass reclass-rs" for N < 1000 and
#                     "reclass-rs" for N >= 1000; reclass-rs dropped if not installed;
#                     "none" times pctl only)
#   KAPITAN_RUNS      Kapitan runs per N and backend (default 3, or 1 for N >= 1000)
#   PCTL, GEN_ORG     binaries to use (default: target/release/pctl and
#                     target/release/examples/gen_org, built with cargo if either is unset)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

KAPITAN_VERSION=${KAPITAN_VERSION:-0.36.3}
RECLASS_RS_VERSION=${RECLASS_RS_VERSION:-0.11.0}
KAPITAN_VENV=${KAPITAN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pctl-bench/kapitan-venv}
SHA=0000000000000000000000000000000000000000

if [ -z "${PCTL:-}" ] || [ -z "${GEN_ORG:-}" ]; then
  cargo build --release -q --bin pctl --example gen_org
fi
PCTL=${PCTL:-$repo/target/release/pctl}
GEN_ORG=${GEN_ORG:-$repo/target/release/examples/gen_org}

if [ ! -x "$KAPITAN_VENV/bin/kapitan" ]; then
  echo "installing kapitan $KAPITAN_VERSION into $KAPITAN_VENV" >&2
  python3 -m venv "$KAPITAN_VENV"
  "$KAPITAN_VENV/bin/pip" install -q "kapitan==$KAPITAN_VERSION" >&2
  "$KAPITAN_VENV/bin/pip" install -q "reclass-rs==$RECLASS_RS_VERSION" >&2 ||
    echo "reclass-rs did not install: only the default reclass backend is measured" >&2
fi
KAPITAN=$KAPITAN_VENV/bin/kapitan
have_rs=0
"$KAPITAN_VENV/bin/python" -c 'import reclass_rs' 2>/dev/null && have_rs=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)

# run DIR CMD...: runs CMD in DIR under /usr/bin/time; appends "wall cpu rss_mib" to $work/runs
# (wall from date +%s%N, finer than time's 10 ms; CPU = user + sys, children included)
run() {
  local dir=$1 t0 t1; shift
  t0=$(date +%s%N)
  (cd "$dir" && /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err") ||
    { cat "$work/err" >&2; exit 1; }
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) '{ printf "%.3f %.2f %d\n", ns / 1e9, $2 + $3, $4 / 1024 }' "$work/time" >>"$work/runs"
}
# median: the run with the median wall time, as "wall cpu rss_mib"
median() {
  local n; n=$(wc -l <"$work/runs")
  sort -n "$work/runs" | sed -n "$(((n + 1) / 2))p"
}
# files PATTERN FILE...: how many of the files contain PATTERN
files() { local pat=$1; shift; { grep -l -e "$pat" "$@" || true; } | wc -l; }
# same_mix N ORG KAPITAN_DIR: the two generators must describe the same organisation
same_mix() {
  local org=$2 kdir=$3/inventory/targets k a="" b="" pat
  for k in Service Worker CronJob; do
    a="$a $(files "^kind: $k\$" "$org"/*/platform.yaml)"
    b="$b $(files "kinds\.${k,,}\$" "$kdir"/*-prod.yml)"
  done
  for pat in "type: postgres|resources.postgres" "type: redis|resources.redis" "type: queue|resources.queue" \
    "strategy: canary|features.canary" "public: true|features.public" "dependencies:|dependencies:"; do
    a="$a $(files "${pat%%|*}" "$org"/*/platform.yaml)"
    b="$b $(files "${pat#*|}" "$kdir"/*-prod.yml)"
  done
  if [ "$a" != "$b" ]; then
    echo "gen_org and gen_kapitan.py disagree for N=$1 (Service Worker CronJob postgres redis queue canary public dependencies):" >&2
    echo "  gen_org:    $a" >&2
    echo "  gen_kapitan:$b" >&2
    exit 1
  fi
}

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$("$PCTL" --version); kapitan $("$KAPITAN" --version 2>/dev/null | tail -n1)$([ $have_rs = 1 ] && echo ", reclass-rs $("$KAPITAN_VENV/bin/pip" show reclass-rs 2>/dev/null | sed -n 's/^Version: //p')"); $("$KAPITAN_VENV/bin/python" --version)"
echo
echo "| services | tool | runs | wall s | CPU s | peak RSS MiB | files written | wall / pctl wall |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  org=$work/org-$n kproj=$work/kapitan-$n
  "$GEN_ORG" "$n" "$org"
  python3 "$repo/bench/kapitan/gen_kapitan.py" "$n" "$kproj"
  same_mix "$n" "$org" "$kproj"
  sync

  : >"$work/runs"
  for i in 1 2 3; do
    out=$work/pctl-out-$n-$i
    run "$work" "$PCTL" render --all "$org" --source-sha "$SHA" --format json --out "$out"
    pctl_files=$(find "$out" -type f | wc -l)
    rm -rf "$out"
  done
  read -r p_wall p_cpu p_rss < <(median)
  echo "| $n | pctl render --all | 3 | $p_wall | $p_cpu | $p_rss | $pctl_files | 1.0 |"

  if [ "${KAPITAN_BACKENDS:-}" = none ]; then backends=()
  elif [ -n "${KAPITAN_BACKENDS:-}" ]; then
    read -r -a backends <<<"$KAPITAN_BACKENDS"
  elif [ "$n" -ge 1000 ]; then backends=(reclass-rs)
  else backends=(reclass reclass-rs); fi
  runs=${KAPITAN_RUNS:-$([ "$n" -ge 1000 ] && echo 1 || echo 3)}
  for backend in ${backends[@]+"${backends[@]}"}; do
    if [ "$backend" = reclass-rs ] && [ $have_rs = 0 ]; then
      if [ ${#backends[@]} -gt 1 ]; then continue; fi
      echo "reclass-rs is not installed: using the default reclass backend" >&2
      backend=reclass
    fi
    : >"$work/runs"
    for ((i = 1; i <= runs; i++)); do
      rm -rf "$kproj/compiled"
      sync
      run "$kproj" "$KAPITAN" compile -p 2 --inventory-backend "$backend"
    done
    k_files=$(find "$kproj/compiled" -type f | wc -l)
    read -r k_wall k_cpu k_rss < <(median)
    ratio=$(awk -v k="$k_wall" -v p="$p_wall" 'BEGIN { printf(k / p >= 10 ? "%.0f" : "%.1f", k / p) }')
    echo "| $n | kapitan compile -p 2 ($backend) | $runs | $k_wall | $k_cpu | $k_rss | $k_files | $ratio |"
  done
  rm -rf "$org" "$kproj"
done
echo
echo "Kapitan targets: one per service-environment (3 x services). Peak RSS is /usr/bin/time's %M:"
echo "the largest single process (Kapitan's parent or one of its 2 pool workers), not their sum."
