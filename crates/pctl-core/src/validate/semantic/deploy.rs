//! Delivery checks: canary steps, the blue-green gate and rollback thresholds.

use super::{Checker, check_duration, check_threshold};
use crate::diag::join_pointer;
use crate::model::Deploy;

/// Checks `spec.deploy` of a workload of `kind`.
pub(super) fn check(c: &mut Checker, deploy: &Deploy, kind: &str) {
    // A strategy the schema rejected is unknown: checks that depend on it are skipped.
    let strategy = match deploy.strategy.as_deref() {
        Some(s) => s,
        None if c.exists("/spec/deploy/strategy") => "",
        None => "rolling",
    };
    if strategy == "canary" && deploy.steps.is_empty() && !c.exists("/spec/deploy/steps") {
        let d = c
            .error_key(
                "semantic/canary-steps",
                "a canary deploy needs `steps`",
                "/spec/deploy",
            )
            .pointer("/spec/deploy/steps")
            .help("add steps, e.g. `steps: [{weight: 10, duration: 10m}, {weight: 100}]`");
        c.push(d);
    }
    if matches!(strategy, "rolling" | "blue-green") && !deploy.steps.is_empty() {
        let d = c
            .error_key(
                "semantic/steps-not-canary",
                "`steps` only apply to `strategy: canary`",
                "/spec/deploy/steps",
            )
            .help(if strategy == "blue-green" {
                "a blue-green deploy checks the new version with `gate: {duration: 10m, metrics: {...}}` instead of `steps`"
            } else {
                "set `strategy: canary`, or remove `steps`"
            });
        c.push(d);
    }
    if matches!(strategy, "rolling" | "canary") && deploy.gate.is_some() {
        let d = c
            .error_key(
                "semantic/gate-not-blue-green",
                "`gate` only applies to `strategy: blue-green`",
                "/spec/deploy/gate",
            )
            .help("set `strategy: blue-green`, or remove `gate` (a canary checks metrics in its `steps`)");
        c.push(d);
    }
    let progressive = match strategy {
        "canary" => Some("a canary"),
        "blue-green" => Some("blue-green"),
        _ => None,
    };
    if let (Some(how), "CronJob" | "Worker") = (progressive, kind) {
        let (code, msg, help) = if kind == "CronJob" {
            (
                "semantic/canary-cron",
                format!("a CronJob cannot be deployed as {how}"),
                "remove `deploy`, or use `strategy: rolling`",
            )
        } else {
            (
                "semantic/canary-worker",
                format!("a Worker receives no traffic, so it cannot be deployed as {how}"),
                "use `strategy: rolling`, or make it a `Service` if it serves requests",
            )
        };
        let d = c.error(code, msg, "/spec/deploy/strategy").help(help);
        c.push(d);
    }
    if let Some(g) = &deploy.gate {
        if let Some(dur) = &g.duration {
            check_duration(c, dur, "/spec/deploy/gate/duration");
        }
        for (metric, v) in &g.metrics {
            check_threshold(
                c,
                metric,
                v,
                &join_pointer("/spec/deploy/gate/metrics", metric),
            );
        }
    }
    let mut last: Option<u32> = None;
    for (i, step) in deploy.steps.iter().enumerate() {
        let p = format!("/spec/deploy/steps/{i}");
        if let Some(w) = step.weight {
            if let Some(prev) = last {
                if w <= prev {
                    let d = c
                        .error(
                            "semantic/canary-weights",
                            format!(
                                "canary weights must increase: step {} has weight {w} after {prev}",
                                i + 1
                            ),
                            &format!("{p}/weight"),
                        )
                        .expected(format!("a weight greater than {prev}"))
                        .help("order the steps by increasing traffic weight");
                    c.push(d);
                }
            }
            last = Some(w);
        }
        if let Some(dur) = &step.duration {
            check_duration(c, dur, &format!("{p}/duration"));
        }
        for (metric, v) in &step.metrics {
            check_threshold(c, metric, v, &join_pointer(&format!("{p}/metrics"), metric));
        }
    }
    if let (Some(w), "canary") = (deploy.steps.last().and_then(|s| s.weight), strategy) {
        if w != 100 {
            let n = deploy.steps.len() - 1;
            let d = c
                .error(
                    "semantic/canary-final-weight",
                    format!("the last canary step must send all traffic (weight 100), not {w}"),
                    &format!("/spec/deploy/steps/{n}/weight"),
                )
                .expected("weight: 100")
                .help("add a final step `{weight: 100}`");
            c.push(d);
        }
    }
    if let Some(rb) = &deploy.rollback {
        for (metric, v) in &rb.on {
            check_threshold(
                c,
                metric,
                v,
                &join_pointer("/spec/deploy/rollback/on", metric),
            );
        }
    }
}
