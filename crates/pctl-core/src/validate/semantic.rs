//! Semantic checks: what a JSON Schema cannot say (names that must exist in the organisation,
//! cross-field rules, cron expressions, durations, quantities). Each finding is located at the
//! exact value in platform.yaml and carries a fix.

use super::Capabilities;
use crate::diag::{Diagnostic, Span, did_you_mean, join_pointer, one_of};
use crate::load::Document;
use crate::model::{Compute, Intent, Org};
pub use crate::quantity::{parse_cpu, parse_duration_ms, parse_memory, parse_percent};
use crate::source::SourceFile;

mod deploy;

struct Checker<'a> {
    file: &'a SourceFile,
    doc: &'a Document,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn at(&self, pointer: &str) -> Option<Span> {
        self.doc.spans.locate(self.file, pointer)
    }
    fn key(&self, pointer: &str) -> Option<Span> {
        self.doc.spans.locate_key(self.file, pointer)
    }
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
    fn error(&self, code: &'static str, msg: impl Into<String>, pointer: &str) -> Diagnostic {
        Diagnostic::error(code, msg)
            .in_file(&self.file.name)
            .at(self.at(pointer))
            .pointer(pointer)
    }
    fn error_key(&self, code: &'static str, msg: impl Into<String>, pointer: &str) -> Diagnostic {
        Diagnostic::error(code, msg)
            .in_file(&self.file.name)
            .at(self.key(pointer))
            .pointer(pointer)
    }
    fn exists(&self, pointer: &str) -> bool {
        self.doc.spans.get(pointer).is_some()
    }
}

pub fn check_intent(
    file: &SourceFile,
    doc: &Document,
    intent: &Intent,
    org: &Org,
    caps: &Capabilities,
) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        doc,
        diags: Vec::new(),
    };
    let spec = &intent.spec;
    let kind = intent.kind.as_str();

    // Owner must be a declared team.
    let teams: Vec<&str> = org.spec.teams.iter().map(|t| t.name.as_str()).collect();
    let owner = &intent.metadata.owner;
    if !owner.is_empty() && !teams.is_empty() && !teams.contains(&owner.as_str()) {
        let mut d = c
            .error(
                "semantic/unknown-team",
                format!("owner `{owner}` is not a team of the organisation"),
                "/metadata/owner",
            )
            .found(format!("`{owner}`"))
            .expected(format!(
                "a team declared in the organisation config: {}",
                one_of(&teams)
            ));
        d = d.suggest(
            owner,
            teams.iter().copied(),
            "ask the platform team to add your team to pctl-org.yaml, or use an existing one",
        );
        c.push(d);
    }

    // Workload blueprint: by kind, or the one named in spec.blueprint.
    if let Some(bp) = &spec.blueprint {
        let names: Vec<&str> = caps.workloads.iter().map(|(_, n)| n.as_str()).collect();
        if !names.contains(&bp.as_str()) {
            let mut d = c
                .error(
                    "semantic/unknown-blueprint",
                    format!("no workload blueprint named `{bp}`"),
                    "/spec/blueprint",
                )
                .expected(one_of(&names));
            d = d.suggest(
                bp,
                names.iter().copied(),
                format!(
                    "use {}, or remove `blueprint` to use the default for the kind",
                    one_of(&names)
                ),
            );
            c.push(d);
        }
    } else if !kind.is_empty() && !caps.workloads.iter().any(|(k, _)| k == kind) {
        let d = c
            .error(
                "semantic/no-blueprint",
                format!("no workload blueprint serves kind `{kind}`"),
                "/kind",
            )
            .help(
                "add a blueprint with `workload: ".to_string()
                    + kind
                    + "` to the blueprints folder",
            );
        c.push(d);
    }

    // schedule: CronJob only, and required there.
    match (kind, &spec.schedule) {
        ("CronJob", None) if !c.exists("/spec/schedule") => {
            let d = c
                .error_key("semantic/missing-schedule", "a CronJob needs a `schedule`", "/spec")
                .pointer("/spec/schedule")
                .help("add `schedule: \"0 3 * * *\"` (minute hour day-of-month month day-of-week) under `spec`");
            c.push(d);
        }
        ("CronJob", Some(s)) => {
            if let Err((msg, hint)) = check_cron(s) {
                let d = c
                    .error("semantic/cron", format!("invalid cron schedule: {msg}"), "/spec/schedule")
                    .found(format!("`{s}`"))
                    .expected("5 fields: minute hour day-of-month month day-of-week, or @hourly/@daily/@weekly/@monthly/@yearly")
                    .help(hint);
                c.push(d);
            }
        }
        (k, Some(_)) if k == "Service" || k == "Worker" => {
            let d = c
                .error_key(
                    "semantic/schedule-not-cron",
                    format!("`schedule` is only for kind CronJob, not {k}"),
                    "/spec/schedule",
                )
                .help("remove `schedule`, or set `kind: CronJob`");
            c.push(d);
        }
        _ => {}
    }

    // Ports, probes, metrics, dependency contracts, exemptions, exposure: contract.rs.
    c.diags
        .extend(super::contract::check_intent(file, doc, intent, org, caps));
    let mut seen_paths: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, e) in spec.endpoints.iter().enumerate() {
        if seen_paths.contains(&e.path.as_str()) {
            let d = c
                .error(
                    "semantic/duplicate-endpoint",
                    format!("endpoint path `{}` is declared twice", e.path),
                    &format!("/spec/endpoints/{i}/path"),
                )
                .help("each endpoint path must be unique");
            c.push(d);
        }
        seen_paths.insert(&e.path);
    }

    // Image registry: the `registry` guardrail (deny by default; warn or off in the org config).
    let regs = &org.spec.registries;
    let registry_level = crate::guardrails::level(org, "registry");
    if !spec.image.is_empty()
        && !regs.is_empty()
        && registry_level.is_some()
        && !regs.iter().any(|r| image_in_registry(&spec.image, r))
    {
        let mut d = c
            .error(
                "semantic/registry",
                format!("image `{}` is not from an allowed registry", spec.image),
                "/spec/image",
            )
            .found(format!("`{}`", spec.image))
            .expected(format!("an image under {}", one_of(regs)))
            .help(format!(
                "push the image to {} and reference it from there",
                regs[0]
            ));
        d.severity = registry_level.unwrap_or(crate::diag::Severity::Error);
        c.push(d);
    }

    // Env vars and secrets must not collide (both become environment variables).
    for name in &spec.secrets {
        if spec.env.contains_key(name) {
            let p = join_pointer("/spec/env", name);
            let d = c
                .error_key(
                    "semantic/env-secret-clash",
                    format!("`{name}` is both a plain env var and a secret"),
                    &p,
                )
                .help("remove it from `env`: secrets are injected from the secret store");
            c.push(d);
        }
    }

    // Resources: known type, known size (parameters are checked by the run's schema).
    for (name, r) in &spec.resources {
        let base = join_pointer("/spec/resources", name);
        let Some(rtype) = &r.kind else { continue };
        let known_types = caps.resource_type_names();
        let Some(rt) = caps.resource_type(rtype) else {
            let mut d = c
                .error(
                    "semantic/unknown-resource-type",
                    format!("unknown resource type `{rtype}`"),
                    &format!("{base}/type"),
                )
                .found(format!("`{rtype}`"))
                .expected(one_of(&known_types));
            d = d.suggest(
                rtype,
                known_types.iter().copied(),
                "ask the platform team for a blueprint for this resource type",
            );
            c.push(d);
            continue;
        };
        if rt.sized && !r.in_cluster() {
            check_size(
                &mut c,
                org,
                rtype,
                r.size.as_deref(),
                &format!("{base}/size"),
            );
        }
    }

    // Environments.
    let secret_names: std::collections::HashSet<&str> =
        spec.secrets.iter().map(String::as_str).collect();
    let env_names: Vec<&str> = org
        .spec
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for (env, o) in &spec.environments {
        let base = join_pointer("/spec/environments", env);
        if !env_names.is_empty() && !env_names.contains(&env.as_str()) {
            let mut d = c
                .error_key(
                    "semantic/unknown-environment",
                    format!("unknown environment `{env}`"),
                    &base,
                )
                .found(format!("`{env}`"))
                .expected(format!(
                    "an environment of the organisation: {}",
                    one_of(&env_names)
                ));
            d = d.suggest(
                env,
                env_names.iter().copied(),
                format!(
                    "deploy to {}, or ask the platform team to add `{env}` to pctl-org.yaml",
                    one_of(&env_names)
                ),
            );
            c.push(d);
        }
        if let Some(a) = &o.autoscale {
            if let (Some(min), Some(max)) = (a.min, a.max) {
                if min > max {
                    let d = c
                        .error(
                            "semantic/autoscale-range",
                            format!("autoscale `min` ({min}) is greater than `max` ({max})"),
                            &format!("{base}/autoscale/min"),
                        )
                        .help(format!(
                            "set `min` <= `max`, e.g. `min: {max}` or `max: {min}`"
                        ));
                    c.push(d);
                }
            }
            if o.replicas.is_some() {
                let d = c
                    .error_key("semantic/replicas-and-autoscale", "`replicas` and `autoscale` are both set; the autoscaler owns the replica count", &format!("{base}/replicas"))
                    .help("remove `replicas` (autoscale.min is the floor)");
                c.push(d);
            }
            if kind == "CronJob" {
                let d = c
                    .error_key(
                        "semantic/autoscale-cron",
                        "a CronJob cannot autoscale",
                        &format!("{base}/autoscale"),
                    )
                    .help("remove `autoscale`");
                c.push(d);
            }
        }
        if let Some(comp) = &o.compute {
            check_compute(&mut c, comp, &format!("{base}/compute"));
        }
        for (rname, r) in &o.resources {
            let p = join_pointer(&format!("{base}/resources"), rname);
            match spec.resources.get(rname) {
                None => {
                    let names: Vec<&str> = spec.resources.keys().map(String::as_str).collect();
                    let mut d = c
                        .error_key("semantic/unknown-resource", format!("environment `{env}` overrides resource `{rname}`, which `spec.resources` does not declare"), &p)
                        .expected(if names.is_empty() { "no overrides: this service declares no resources".to_string() } else { one_of(&names) });
                    d = d.suggest(
                        rname,
                        names.iter().copied(),
                        format!(
                            "declare `{rname}` under `spec.resources`, or remove this override"
                        ),
                    );
                    c.push(d);
                }
                Some(base_r) => {
                    let rt = base_r.kind.as_deref().and_then(|t| caps.resource_type(t));
                    let managed = !base_r.merged(Some(r)).in_cluster();
                    if let Some(rt) = rt.filter(|rt| rt.sized && managed) {
                        check_size(
                            &mut c,
                            org,
                            &rt.name,
                            r.size.as_deref(),
                            &format!("{p}/size"),
                        );
                    }
                }
            }
        }
        for name in o.env.keys() {
            if secret_names.contains(name.as_str()) {
                let p = join_pointer(&format!("{base}/env"), name);
                let d = c
                    .error_key(
                        "semantic/env-secret-clash",
                        format!("`{name}` is both a plain env var and a secret"),
                        &p,
                    )
                    .help("remove it from `env`: secrets are injected from the secret store");
                c.push(d);
            }
        }
    }
    if let Some(comp) = &spec.compute {
        check_compute(&mut c, comp, "/spec/compute");
    }

    deploy::check(&mut c, &spec.deploy, kind);
    if let Some(slo) = &spec.slo {
        if let Some(l) = &slo.latency_p99 {
            check_duration(&mut c, l, "/spec/slo/latency_p99");
        }
    }
    c.diags
}

fn check_size(c: &mut Checker, org: &Org, rtype: &str, size: Option<&str>, pointer: &str) {
    let sizes: Vec<&str> = org
        .spec
        .sizes
        .get(rtype)
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    match size {
        Some(s) if !sizes.contains(&s) => {
            let mut d = c
                .error(
                    "semantic/unknown-size",
                    format!("unknown size `{s}` for a {rtype}"),
                    pointer,
                )
                .found(format!("`{s}`"))
                .expected(if sizes.is_empty() {
                    format!("no size: the organisation config declares no sizes for `{rtype}`")
                } else {
                    one_of(&sizes)
                });
            d = match did_you_mean(s, sizes.iter().copied()) {
                Some(x) => d.help(format!("did you mean `{x}`?")),
                None if sizes.is_empty() => d.help(format!(
                    "remove `size`, or ask the platform team to add `sizes.{rtype}` to pctl-org.yaml"
                )),
                None => d.help(format!("use {}", one_of(&sizes))),
            };
            c.push(d);
        }
        None if sizes.is_empty() => {
            let d = c
                .error_key(
                    "semantic/no-sizes",
                    format!("the organisation config declares no sizes for `{rtype}`"),
                    pointer.rsplit_once('/').map_or(pointer, |x| x.0),
                )
                .help(format!(
                    "ask the platform team to add `sizes.{rtype}` to pctl-org.yaml"
                ));
            c.push(d);
        }
        _ => {}
    }
}

fn check_compute(c: &mut Checker, comp: &Compute, base: &str) {
    if let Some(cpu) = &comp.cpu {
        if parse_cpu(cpu).is_none() {
            let d = c
                .error(
                    "semantic/quantity",
                    format!("`{cpu}` is not a CPU quantity"),
                    &format!("{base}/cpu"),
                )
                .expected("cores as a number (`1`, `0.5`) or millicores (`250m`), greater than 0")
                .help("e.g. `cpu: 250m`");
            c.push(d);
        }
    }
    if let Some(mem) = &comp.memory {
        if parse_memory(mem).is_none() {
            let d = c
                .error(
                    "semantic/quantity",
                    format!("`{mem}` is not a memory quantity"),
                    &format!("{base}/memory"),
                )
                .expected("bytes with a unit: `256Mi`, `1Gi`, `512M`, greater than 0")
                .help("e.g. `memory: 256Mi`");
            c.push(d);
        }
    }
}

fn check_duration(c: &mut Checker, s: &str, pointer: &str) {
    if parse_duration_ms(s).is_none() {
        let d = c
            .error(
                "semantic/duration",
                format!("`{s}` is not a duration"),
                pointer,
            )
            .found(format!("`{s}`"))
            .expected("a positive duration such as `200ms`, `30s`, `10m`, `1h30m`")
            .help("write a number followed by ms, s, m or h");
        c.push(d);
    }
}

fn check_threshold(c: &mut Checker, metric: &str, v: &str, pointer: &str) {
    if metric.starts_with("error_rate") {
        if parse_percent(v).is_none() {
            let d = c
                .error(
                    "semantic/percentage",
                    format!("`{v}` is not a percentage"),
                    pointer,
                )
                .found(format!("`{v}`"))
                .expected("a percentage between 0% and 100%, e.g. `1%` or `0.5%`")
                .help("write a number followed by %");
            c.push(d);
        }
    } else if metric.starts_with("latency") {
        check_duration(c, v, pointer);
    }
}

fn image_in_registry(image: &str, registry: &str) -> bool {
    crate::image::in_registry(image, registry)
}

/// Validates a 5-field cron expression (or an @macro) the way Kubernetes CronJob reads it.
pub fn check_cron(s: &str) -> Result<(), (String, String)> {
    const MACROS: &[&str] = &[
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@hourly",
    ];
    let s = s.trim();
    if s.starts_with('@') {
        return if MACROS.contains(&s) {
            Ok(())
        } else {
            Err((
                format!("unknown macro `{s}`"),
                format!("use one of {}", MACROS.join(", ")),
            ))
        };
    }
    if s.starts_with("CRON_TZ=") || s.starts_with("TZ=") {
        return Err((
            "time zones are not allowed in the schedule".into(),
            "remove the TZ= prefix; schedules run in the cluster's time zone".into(),
        ));
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err((
            format!("{} fields instead of 5", fields.len()),
            "write minute hour day-of-month month day-of-week, e.g. `*/15 * * * *`".into(),
        ));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let specs: [(&str, u32, u32, &[&str], u32); 5] = [
        ("minute", 0, 59, &[], 0),
        ("hour", 0, 23, &[], 0),
        ("day-of-month", 1, 31, &[], 0),
        ("month", 1, 12, MONTHS, 1),
        ("day-of-week", 0, 7, DAYS, 0),
    ];
    for (field, (name, lo, hi, names, name_base)) in fields.iter().zip(specs) {
        let value = |t: &str| -> Option<u32> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
                return Some(i as u32 + name_base);
            }
            t.parse::<u32>().ok().filter(|v| (lo..=hi).contains(v))
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, st)) => (r, Some(st)),
                None => (part, None),
            };
            if let Some(st) = step {
                if st.parse::<u32>().ok().filter(|v| *v > 0).is_none() {
                    return Err((
                        format!("bad step `/{st}` in the {name} field"),
                        "a step is a positive number, e.g. `*/15`".into(),
                    ));
                }
            }
            let ok = if range == "*"
                || (range == "?" && (name == "day-of-month" || name == "day-of-week"))
            {
                true
            } else if let Some((a, b)) = range.split_once('-') {
                matches!((value(a), value(b)), (Some(x), Some(y)) if x <= y)
            } else {
                value(range).is_some()
            };
            if !ok {
                return Err((
                    format!("`{part}` is not valid in the {name} field"),
                    format!(
                        "the {name} field takes values {lo}-{hi}{}, lists (a,b), ranges (a-b) and steps (*/n)",
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!(" or names ({}..)", names[0])
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_percentages_quantities() {
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("200ms"), Some(200));
        assert_eq!(parse_duration_ms("10"), None);
        assert_eq!(parse_duration_ms("10 m"), None);
        assert_eq!(parse_duration_ms("0s"), None);
        assert_eq!(parse_percent("0.5%"), Some(0.5));
        assert_eq!(parse_percent("150%"), None);
        assert_eq!(parse_percent("1"), None);
        assert_eq!(parse_cpu("250m"), Some(250));
        assert_eq!(parse_cpu("1"), Some(1000));
        assert_eq!(parse_cpu("0.5"), Some(500));
        assert_eq!(parse_cpu("1x"), None);
        assert_eq!(parse_memory("1Gi"), Some(1 << 30));
        assert_eq!(parse_memory("256Mi"), Some(256 << 20));
        assert_eq!(parse_memory("1GB"), None);
    }

    #[test]
    fn cron_expressions() {
        for ok in [
            "*/15 * * * *",
            "0 3 * * *",
            "0 0 1 jan-mar mon-fri",
            "@hourly",
            "5,10 0-6/2 * * 7",
        ] {
            assert!(check_cron(ok).is_ok(), "{ok}");
        }
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "@often",
            "0 0 31-1 * *",
            "CRON_TZ=UTC 0 * * * *",
        ] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }
}
