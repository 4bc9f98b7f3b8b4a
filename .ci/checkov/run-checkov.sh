#!/usr/bin/env bash
# run-checkov: run checkov (pinned, offline) on deploy trees (Terraform, Kubernetes
# manifests, GitHub Actions workflows) and report every failed check not covered by a
# reasoned skip list (.ci/checkov/skip-list.txt; tests/checkov.rs runs it on the golden trees).
#
# usage: run-checkov.sh [options] DIR...
set -euo pipefail

PROG="$(basename "${BASH_SOURCE[0]}")"

usage() {
  cat <<EOF
usage: $PROG [options] DIR...
       $PROG --install-only

Run checkov on each DIR offline and print one line per failed check,
  FAIL <file>: <check id> <title> (<resource>)
sorted by file, then 'N passed, M failed' (check results, after skips).
Exit 0 when clean, 1 on any failure, 2 on a usage or setup error.

options:
  --skip-file FILE      checks to skip, one per line: 'CHECK_ID  # reason', optionally
                        'CHECK_ID GLOB...  # reason' to skip it only in files whose path
                        relative to DIR matches a GLOB (fnmatch, e.g. 'terraform/dev/*').
                        Blank lines and lines starting with '#' are ignored; a rule
                        without a reason is refused (exit 2).
  --framework LIST      checkov frameworks, comma separated
                        (default terraform,kubernetes,github_actions; kustomize needs
                        kubectl or kustomize on PATH and duplicates kubernetes results
                        for plain 'resources:' kustomizations)
  --no-inline-skips     count in-file suppressions (#checkov:skip=..., checkov.io/skip
                        annotations) as failures
  --json-out FILE       also write checkov's raw JSON reports (concatenated) to FILE
  --install-only        set up the pinned virtualenv and exit
  --reinstall           re-run pip even when the stamp says it is done
  -h, --help            show this help

environment:
  CHECKOV_VENV    virtualenv to create/reuse (default ~/.cache/pctl-checkov/venv)
  CHECKOV_PYTHON  interpreter used to create it (default python3)

Files checkov looks at: *.tf (each folder a root module; modules are not downloaded),
Kubernetes YAML of built-in kinds (CRDs such as Argo Rollouts' Rollout are not checked),
and workflows under a '.github/workflows/' folder only (not action.yml).
EOF
}

# ---------------------------------------------------------------- options
VENV="${CHECKOV_VENV:-$HOME/.cache/pctl-checkov/venv}"
PYTHON="${CHECKOV_PYTHON:-python3}"
FRAMEWORKS="terraform,kubernetes,github_actions"
SKIP_FILE=""
JSON_OUT=""
INLINE=1
INSTALL_ONLY=0
REINSTALL=0
DIRS=()

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --skip-file) SKIP_FILE="${2:?--skip-file needs a value}"; shift 2 ;;
    --skip-file=*) SKIP_FILE="${1#*=}"; shift ;;
    --framework) FRAMEWORKS="${2:?--framework needs a value}"; shift 2 ;;
    --framework=*) FRAMEWORKS="${1#*=}"; shift ;;
    --json-out) JSON_OUT="${2:?--json-out needs a value}"; shift 2 ;;
    --json-out=*) JSON_OUT="${1#*=}"; shift ;;
    --no-inline-skips) INLINE=0; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    --reinstall) REINSTALL=1; shift ;;
    --) shift; DIRS+=("$@"); break ;;
    -*) echo "$PROG: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) DIRS+=("$1"); shift ;;
  esac
done

log() { echo "$PROG: $*" >&2; }

if [ "$INSTALL_ONLY" = 0 ]; then
  if [ "${#DIRS[@]}" = 0 ]; then usage >&2; exit 2; fi
  for d in "${DIRS[@]}"; do
    [ -d "$d" ] || { log "not a directory: $d"; exit 2; }
  done
  FRAMEWORKS="${FRAMEWORKS// /,}"
  if ! [[ "$FRAMEWORKS" =~ ^[a-z_]+(,[a-z_]+)*$ ]]; then log "bad --framework list: $FRAMEWORKS"; exit 2; fi
  case ",$FRAMEWORKS," in
    *,kustomize,*)
      # without either tool checkov's kustomize runner silently checks nothing (exit 0)
      if ! command -v kubectl >/dev/null 2>&1 && ! command -v kustomize >/dev/null 2>&1; then
        log "framework kustomize needs kubectl (>= 1.14) or kustomize on PATH"; exit 2
      fi ;;
  esac
  # the skip list is checked before anything is installed or run
  if [ -n "$SKIP_FILE" ]; then
    [ -f "$SKIP_FILE" ] || { log "skip file not found: $SKIP_FILE"; exit 2; }
    n=0; bad=0
    while IFS= read -r line || [ -n "$line" ]; do
      n=$((n + 1))
      line="${line%$'\r'}"
      trimmed="${line#"${line%%[![:space:]]*}"}"
      case "$trimmed" in ''|'#'*) continue ;; esac
      if ! [[ "$trimmed" =~ ^CKV2?_[A-Z0-9_]+([[:space:]]+[^#[:space:]]+)*[[:space:]]+#[[:space:]]*[^[:space:]] ]]; then
        log "$SKIP_FILE:$n: expected 'CHECK_ID [GLOB...]  # reason' (a reason is required): $line"
        bad=1
      fi
    done < "$SKIP_FILE"
    [ "$bad" = 0 ] || exit 2
  fi
fi

# ---------------------------------------------------------------- pinned tools
# checkov, then the whole resolved set (pip freeze of a fresh install, Python 3.11,
# Nov 2026) as constraints, so that a new machine installs exactly what was proven.
CHECKOV_PKG="checkov==3.3.30"
CONSTRAINTS='aiodns==3.6.1
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiomultiprocess==0.9.1
aiosignal==1.4.0
annotated-types==0.8.0
argcomplete==3.7.2
asteval==1.0.6
attrs==26.1.0
bc-detect-secrets==1.5.52
bc-jsonpath-ng==1.6.1
bc-python-hcl2==0.4.3
beartype==0.23.1
beautifulsoup4==4.15.0
boolean.py==5.0
boto3==1.35.49
botocore==1.35.99
cached-property==2.0.1
cachetools==5.5.2
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
checkov==3.3.30
click==8.5.1
click-option-group==0.5.10
cloudsplaining==0.7.0
colorama==0.4.6
ConfigArgParse==1.9.0
contextlib2==21.6.0
cyclonedx-python-lib==7.6.2
decorator==5.3.1
defusedxml==0.7.1
docker==7.2.0
dockerfile-parse==2.0.1
dpath==2.1.3
ecdsa==0.19.2
frozenlist==1.8.0
gitdb==4.0.12
GitPython==3.2.1
idna==3.20
importlib_metadata==7.2.1
Jinja2==3.1.6
jmespath==1.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
junit-xml==1.9
lark==1.3.1
license-expression==30.4.4
Markdown==3.11.3
MarkupSafe==3.0.4
multidict==7.2.1
networkx==2.6.3
numpy==2.4.6
orjson==3.13.0
packageurl-python==0.13.4
packaging==23.2
platformdirs==4.14.8
ply==3.11
policy_sentry==0.13.2
prettytable==3.18.0
propcache==0.5.4
py-serializable==1.1.2
pycares==4.11.0
pycep-parser==0.5.1
pycparser==3.12
pydantic==2.14.4
pydantic_core==2.50.5
pyparsing==3.3.3
python-dateutil==2.9.0.post0
PyYAML==6.0.4
rdflib==7.6.0
referencing==0.37.0
regex==2026.11.19
requests==2.34.2
rpds-py==2026.9.1
rustworkx==0.18.1
s3transfer==0.10.4
schema==0.7.5
semantic-version==2.10.0
six==1.17.0
smmap==5.0.3
sortedcontainers==2.4.0
soupsieve==2.10
spdx-tools==0.8.5
tabulate==0.9.0
termcolor==2.3.0
tqdm==4.70.1
typing-inspection==0.4.5
typing_extensions==4.16.0
unidiff==1.0.1
uritools==7.0.0
urllib3==2.8.0
wcwidth==0.9.4
xmltodict==1.0.4
yarl==1.25.1
zipp==4.1.2'

with_lock() {
  # serialize installs into one venv between concurrent runs
  mkdir -p "$(dirname "$VENV")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock 9
  fi
}

make_venv() {
  [ -x "$VENV/bin/python" ] && return 0
  log "creating virtualenv $VENV"
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 without python3-venv: bootstrap virtualenv from PyPI
    rm -rf "$VENV" "$VENV.bootstrap"
    log "'$PYTHON -m venv' failed; bootstrapping virtualenv from PyPI"
    "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$VENV.bootstrap" 'virtualenv==20.*' \
      || { log "cannot create a virtualenv: install python3-venv (apt-get install python3-venv) or pip"; exit 2; }
    PYTHONPATH="$VENV.bootstrap" "$PYTHON" -m virtualenv -q "$VENV" \
      || { log "virtualenv failed"; exit 2; }
    rm -rf "$VENV.bootstrap"
  fi
}

install_tools() {
  local stamp="$VENV/.pctl-checkov-stamp" want t0
  want="$(printf '%s\n' "$CHECKOV_PKG" "$CONSTRAINTS" | sha256sum | cut -d' ' -f1)"
  if [ "$REINSTALL" = 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$VENV/bin/checkov" ]; then
    return 0
  fi
  with_lock
  # another run may have finished the install while this one waited for the lock
  if [ "$REINSTALL" = 0 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$VENV/bin/checkov" ]; then
    exec 9>&- 2>/dev/null || true
    return 0
  fi
  make_venv
  t0=$SECONDS
  log "installing $CHECKOV_PKG (pinned, ~100 packages) into $VENV"
  printf '%s\n' "$CONSTRAINTS" > "$VENV/pctl-checkov-constraints.txt"
  rm -f "$stamp"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -c "$VENV/pctl-checkov-constraints.txt" "$CHECKOV_PKG" \
    || { log "pip install failed"; exit 2; }
  # the version check also proves the install imports (about 5 s: checkov's import time)
  local v
  v="$(cd "$VENV" && env -i PATH="$PATH" HOME="$VENV" CKV_SKIP_PACKAGE_UPDATE_CHECK=true \
       "$VENV/bin/checkov" --version 2>/dev/null || true)"
  if [ "$v" != "${CHECKOV_PKG#checkov==}" ]; then
    log "checkov does not run after install (got '${v}')"; exit 2
  fi
  echo "$want" > "$stamp"
  log "checkov $v ready ($((SECONDS - t0)) s)"
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

install_tools
if [ "$INSTALL_ONLY" = 1 ]; then log "checkov installed in $VENV"; exit 0; fi

# ---------------------------------------------------------------- driver
read -r -d '' DRIVER <<'PYEOF' || true
import collections, fnmatch, json, os, re, shutil, subprocess, sys, tempfile, time

T0 = time.time()
venv, frameworks, skip_file, inline_ok, json_out = sys.argv[1:6]
dirs = sys.argv[6:]
inline_ok = inline_ok == '1'


def die(msg):
    sys.stderr.write('run-checkov.sh: %s\n' % msg)
    sys.exit(2)


# ------------------------------------------------ skip list: ID [GLOB...]  # reason
rules = []   # (id, globs, reason, lineno)
if skip_file:
    with open(skip_file, encoding='utf-8') as fh:
        for n, line in enumerate(fh, 1):
            s = line.strip()
            if not s or s.startswith('#'):
                continue
            head, sep, reason = s.partition('#')
            words = head.split()
            if not sep or not reason.strip() or not words or not re.fullmatch(r'CKV2?_[A-Z0-9_]+', words[0]):
                die('%s:%d: expected "CHECK_ID [GLOB...]  # reason": %s' % (skip_file, n, s))
            rules.append((words[0], words[1:], reason.strip(), n))
used = collections.Counter()


def skipped_by(check_id, rel):
    for i, (cid, globs, _reason, _n) in enumerate(rules):
        if cid == check_id and (not globs or any(fnmatch.fnmatch(rel, g) for g in globs)):
            used[i] += 1
            return True
    return False


# ------------------------------------------------ copy the trees under one root, run checkov
# One process for all trees: checkov's start alone takes ~5 s, and several -d options are
# not reliable (3.3.30 prints one cumulative report per -d, and for terraform it repeated
# the first folder). A fresh root also keeps .checkov.yaml files of the trees, the
# caller's home or the working folder from changing the run. The kustomize framework
# runs once per folder: over several trees in one root it dropped results of objects
# whose kind/namespace/name another tree also had.
tmp = tempfile.mkdtemp(prefix='pctl-checkov-')
home = os.path.join(tmp, 'home')
os.makedirs(home)
env = {
    'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
    'HOME': home,                       # no ~/.checkov.yaml, no update-check cache
    'LANG': 'C.UTF-8',
    'CKV_SKIP_PACKAGE_UPDATE_CHECK': 'true',   # else a PyPI version query (once an hour)
    'BC_SKIP_MAPPING': 'TRUE',
    'LOG_LEVEL': 'ERROR',
}   # and no BC_API_KEY / PRISMA_* / CKV_* from the caller: nothing is uploaded or changed
fws = frameworks.split(',')
jobs = []   # (folder indices, frameworks)
main_fws = [f for f in fws if f != 'kustomize']
if main_fws:
    jobs.append((list(range(len(dirs))), main_fws))
if 'kustomize' in fws:
    jobs += [([i], ['kustomize']) for i in range(len(dirs))]
raw = []
reports = []


def docs(s):
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(s) and s[i].isspace():
            i += 1
        if i >= len(s):
            return out
        o, i = dec.raw_decode(s, i)
        out.extend(o if isinstance(o, list) else [o])


for n, (idx, fw) in enumerate(jobs):
    root = os.path.join(tmp, 'scan%d' % n)
    os.makedirs(root)
    for i in idx:
        shutil.copytree(dirs[i], os.path.join(root, str(i)), symlinks=True)
    cmd = [os.path.join(venv, 'bin', 'checkov'), '-d', root, '--framework'] + fw + [
        '--skip-download', '--skip-results-upload', '-o', 'json']
    p = subprocess.run(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shutil.rmtree(root, ignore_errors=True)
    raw.append(p.stdout)
    try:
        got = docs(p.stdout)
    except ValueError:
        got = None
    if p.returncode not in (0, 1) or not got:
        shutil.rmtree(tmp, ignore_errors=True)
        die('checkov failed (exit %d): %s' % (p.returncode, (p.stderr.strip() or p.stdout.strip())[-2000:]))
    reports += got
shutil.rmtree(tmp, ignore_errors=True)
if json_out:
    with open(json_out, 'w') as fh:
        fh.write('\n'.join(raw))


def where(file_path):
    # '/<i>/rel/path' -> (display path, path relative to its DIR)
    parts = file_path.replace(os.sep, '/').lstrip('/').split('/', 1)
    try:
        d = dirs[int(parts[0])]
    except (ValueError, IndexError):
        return file_path, file_path
    rel = parts[1] if len(parts) > 1 else ''
    return os.path.join(d, rel) if rel else d, rel


fails = {}
stats = collections.Counter()
per_dir = collections.Counter()
inline = []
for r in reports:
    if 'results' not in r:      # a framework with nothing to check
        continue
    res, fw = r['results'], r.get('check_type', '?')
    for c in res.get('passed_checks', []):
        stats['passed'] += 1
        per_dir[c['file_path'].lstrip('/').split('/')[0]] += 1
    for c in res.get('failed_checks', []):
        shown, rel = where(c['file_path'])
        per_dir[c['file_path'].lstrip('/').split('/')[0]] += 1
        if skipped_by(c['check_id'], rel):
            stats['skipped (skip file)'] += 1
            continue
        fails[(shown, c['check_id'], c.get('resource', '?'))] = c.get('check_name', '')
    for c in res.get('skipped_checks', []):
        shown, rel = where(c['file_path'])
        per_dir[c['file_path'].lstrip('/').split('/')[0]] += 1
        why = (c.get('check_result') or {}).get('suppress_comment') or ''
        if skipped_by(c['check_id'], rel):
            stats['skipped (skip file)'] += 1
        elif not inline_ok or not why.strip() or why.strip() == 'No comment provided':
            fails[(shown, c['check_id'], c.get('resource', '?'))] = '%s [in-file skip %s]' % (
                c.get('check_name', ''), 'without a reason' if inline_ok else 'not allowed')
        else:
            stats['skipped (in file)'] += 1
            inline.append('%s: %s (%s): %s' % (shown, c['check_id'], c.get('resource', '?'), why.strip()))
    for f in res.get('parsing_errors', []):
        shown, _rel = where(re.sub(r'^.*?/scan[0-9]+(?=/)', '', f) if f.startswith('/') else '/' + f)
        fails[(shown, 'PARSE_ERROR', '-')] = 'checkov could not parse this %s file' % fw

for (shown, cid, resource), title in sorted(fails.items()):
    print('FAIL %s: %s %s (%s)' % (shown, cid, title, resource))
sys.stdout.flush()
for i, (cid, globs, reason, n) in enumerate(rules):
    if not used[i]:
        sys.stderr.write('run-checkov.sh: note: %s:%d: %s%s matched nothing (stale skip?)\n'
                         % (skip_file, n, cid, (' ' + ' '.join(globs)) if globs else ''))
for i, d in enumerate(dirs):
    if not per_dir[str(i)]:
        sys.stderr.write('run-checkov.sh: warning: no file of %s was checked (frameworks %s)\n' % (d, frameworks))
for line in inline:
    sys.stderr.write('run-checkov.sh: in-file skip: %s\n' % line)
ver = next((r['summary'].get('checkov_version') for r in reports if 'summary' in r), '?')
sys.stderr.write('run-checkov.sh: checkov %s; %s; %d folder(s); %s; %.1f s\n' % (
    ver, frameworks, len(dirs),
    ', '.join('%s %d' % kv for kv in sorted(stats.items())) or 'nothing checked', time.time() - T0))
print('%d passed, %d failed' % (stats['passed'], len(fails)))
sys.exit(1 if fails else 0)
PYEOF

exec "$VENV/bin/python" -c "$DRIVER" "$VENV" "$FRAMEWORKS" "$SKIP_FILE" "$INLINE" "$JSON_OUT" "${DIRS[@]}"
