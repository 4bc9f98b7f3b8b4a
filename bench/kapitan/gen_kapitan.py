#!/usr/bin/env python3
"""Generate a Kapitan project equivalent to `gen_org N DIR` (examples/gen_org.rs).

    python3 bench/kapitan/gen_kapitan.py N DIR

Writes DIR/inventory/classes (copied from bench/kapitan/classes), DIR/templates (copied from
bench/kapitan/templates) and DIR/inventory/targets/svc-NNNNN-ENV.yml: one target per service and
environment (N x 3 targets), each listing its classes (common, env.*, teams.*, kinds.*,
features.*, resources.*) and the service's own parameters. Compile it with
`kapitan compile -p 2` inside DIR.

The mix is gen_org's, rule for rule (same i % 20 / i % 3 / ... tests, so both tools see the
same services): 60% Services (every 5th a canary, every 4th public), 25% Workers, 15% CronJobs;
a postgres `db` for i % 3 == 0, a redis `cache` for i % 10 == 0, a queue `jobs` for i % 8 == 0;
a dependency on the previous service for i % 7 == 0 (not CronJobs). Keep it in step with
examples/gen_org.rs; bench/kapitan.sh checks that the kinds and resources agree.

Standard library only (no PyYAML): the targets are written as YAML text.
"""

import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEAMS = ["team-payments", "team-ledger", "team-platform"]
ENVS = ["dev", "staging", "prod"]


def service(i):
    """The service gen_org writes for index i, as a dict (platform.yaml's spec, flattened)."""
    name = f"svc-{i:05}"
    kind = "Service" if i % 20 <= 11 else ("Worker" if i % 20 <= 16 else "CronJob")
    s = {
        "name": name,
        "kind": kind,
        "owner": TEAMS[i % 3],
        "oncall": f"https://oncall.example.com/{name}",
        "runbook": f"https://wiki.example.com/{name}",
        "image": f"ghcr.io/acme/{name}",
        "env_vars": {"LOG_LEVEL": "info", "INDEX": str(i)},
        "canary": False,
        "public": False,
        "dependencies": [],
        "resources": {},
    }
    if kind == "Service":
        s["public"] = i % 4 == 0
        s["endpoints"] = [{"path": "/api", "public": i % 4 == 0, "sla": 99.9}]
        s["slo"] = {"availability": 99.9, "latency_p99": "300ms"}
        s["canary"] = i % 5 == 0
    if kind == "CronJob":
        s["schedule"] = f"{i % 60} 3 * * *"
    if i > 0 and i % 7 == 0 and kind != "CronJob":
        s["dependencies"] = [f"svc-{i - 1:05}"]
    if i % 3 == 0:
        s["resources"]["db"] = {"type": "postgres", "size": "small"}
    if i % 10 == 0:
        s["resources"]["cache"] = {"type": "redis", "size": "small"}
    if i % 8 == 0:
        s["resources"]["jobs"] = {"type": "queue", "size": "standard"}
    s["replicas"] = {"dev": 1, "staging": 1, "prod": None if kind == "CronJob" else 2}
    return s


def q(v):
    """A YAML scalar: strings double-quoted (JSON escapes are valid YAML)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def target(s, env):
    classes = ["common", f"env.{env}", f"teams.{s['owner']}", f"kinds.{s['kind'].lower()}"]
    if s["kind"] == "Service":
        classes.append("features.canary" if s["canary"] else "features.deployment")
        if s["public"]:
            classes.append("features.public")
    for r in s["resources"].values():
        classes.append(f"resources.{r['type']}")
    if s["resources"]:
        classes.append("features.terraform")
    if env == "prod":
        classes.append("features.catalog")
        if s["resources"]:
            classes.append("features.terraform-ci")

    out = ["classes:"] + [f"  - {c}" for c in classes] + ["parameters:"]
    for key in ("name", "owner", "oncall", "runbook", "image"):
        out.append(f"  {key}: {q(s[key])}")
    out.append("  env_vars:")
    out += [f"    {k}: {q(v)}" for k, v in s["env_vars"].items()]
    if s["dependencies"]:
        out.append("  dependencies: [" + ", ".join(q(d) for d in s["dependencies"]) + "]")
    if s["resources"]:
        out.append("  resources:")
        for rname, r in s["resources"].items():
            out.append(f"    {rname}: {{type: {r['type']}, size: {r['size']}}}")
    if "endpoints" in s:
        out.append("  endpoints:")
        for e in s["endpoints"]:
            out.append(f"    - {{path: {q(e['path'])}, public: {q(e['public'])}, sla: {e['sla']}}}")
        out.append(f"  slo: {{availability: {s['slo']['availability']}, latency_p99: {q(s['slo']['latency_p99'])}}}")
    if s["canary"]:
        out += [
            "  deploy:",
            "    strategy: canary",
            "    steps:",
            '      - {weight: 10, duration: 5m, metrics: {error_rate_less_than: "1%"}}',
            "      - {weight: 100}",
        ]
    if "schedule" in s:
        out.append(f"  schedule: {q(s['schedule'])}")
    if s["replicas"][env] is not None:
        out.append(f"  replicas: {s['replicas'][env]}")
    out.append("  environment_replicas:")
    out += [f"    {e}: {q(n if n is not None else '-')}" for e, n in s["replicas"].items()]
    out += ["  kapitan:", "    vars:", f"      target: {s['name']}-{env}"]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_kapitan.py N DIR")
    n, root = int(sys.argv[1]), sys.argv[2]
    inv = os.path.join(root, "inventory")
    shutil.rmtree(inv, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, "classes"), os.path.join(inv, "classes"))
    shutil.rmtree(os.path.join(root, "templates"), ignore_errors=True)
    shutil.copytree(os.path.join(HERE, "templates"), os.path.join(root, "templates"))
    tdir = os.path.join(inv, "targets")
    os.makedirs(tdir)
    for i in range(n):
        s = service(i)
        for env in ENVS:
            with open(os.path.join(tdir, f"{s['name']}-{env}.yml"), "w") as f:
                f.write(target(s, env))


if __name__ == "__main__":
    main()
