//! Generates a synthetic organisation checkout of N services for benchmarks:
//! `cargo run --release --example gen_org -- N DIR`. Deterministic: the same N gives the same
//! files. A mix like a real organisation: 60% Services (some canary, some public), 25% Workers,
//! 15% CronJobs; a third with a database, some with a cache or queue; a dependency chain.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: gen_org N DIR");
    let dir = args.next().expect("usage: gen_org N DIR");
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    let org = include_str!("pctl-org.yaml");
    std::fs::write(dir.join("pctl-org.yaml"), org).unwrap();
    let teams = ["team-payments", "team-ledger", "team-platform"];
    for i in 0..n {
        let name = format!("svc-{i:05}");
        let kind = match i % 20 {
            0..=11 => "Service",
            12..=16 => "Worker",
            _ => "CronJob",
        };
        let mut y = String::new();
        let _ = writeln!(
            y,
            "apiVersion: pctl.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  owner: {}",
            teams[i % 3]
        );
        let _ = writeln!(
            y,
            "  oncall: https://oncall.example.com/{name}\n  runbook: https://wiki.example.com/{name}"
        );
        let _ = writeln!(y, "spec:\n  image: ghcr.io/acme/{name}");
        if kind == "Service" {
            let _ = writeln!(
                y,
                "  port: 8080\n  health: {{liveness: /healthz, readiness: /readyz}}"
            );
            let _ = writeln!(
                y,
                "  endpoints:\n    - {{path: /api, public: {}, sla: 99.9}}",
                i % 4 == 0
            );
            let _ = writeln!(y, "  slo: {{availability: 99.9, latency_p99: 300ms}}");
            if i % 5 == 0 {
                let _ = writeln!(
                    y,
                    "  deploy:\n    strategy: canary\n    steps:\n      - {{weight: 10, duration: 5m, metrics: {{error_rate_less_than: 1%}}}}\n      - {{weight: 100}}"
                );
            }
        }
        if kind == "CronJob" {
            let _ = writeln!(y, "  schedule: \"{} 3 * * *\"", i % 60);
        }
        let _ = writeln!(y, "  env: {{LOG_LEVEL: info, INDEX: \"{i}\"}}");
        if i > 0 && i % 7 == 0 && kind != "CronJob" {
            let _ = writeln!(y, "  dependencies: [svc-{:05}]", i - 1);
        }
        let mut res = Vec::new();
        if i % 3 == 0 {
            res.push("db: {type: postgres, size: small}");
        }
        if i % 10 == 0 {
            res.push("cache: {type: redis, size: small}");
        }
        if i % 8 == 0 {
            res.push("jobs: {type: queue}");
        }
        if !res.is_empty() {
            let _ = writeln!(y, "  resources:");
            for r in res {
                let _ = writeln!(y, "    {r}");
            }
        }
        let prod = if kind == "CronJob" {
            "{}".to_string()
        } else {
            "{replicas: 2}".to_string()
        };
        let _ = writeln!(
            y,
            "  environments:\n    dev: {{replicas: 1}}\n    staging: {{replicas: 1}}\n    prod: {prod}"
        );
        let d = dir.join(&name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("platform.yaml"), y).unwrap();
    }
}
