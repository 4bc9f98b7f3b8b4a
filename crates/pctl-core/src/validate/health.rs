//! Health checks: a long-running process that listens on a port but declares no `health`
//! paths gets TCP probes on that port (blueprints/_common/k8s.yaml.j2). That keeps a pod
//! that does not accept connections out of the Service, but cannot see a process that
//! accepts them and answers nothing useful, so validate says so and suggests HTTP paths.

use crate::diag::Diagnostic;
use crate::load::Document;
use crate::model::Intent;
use crate::source::SourceFile;

/// Code of the warning, for tests and `--deny`-style filters.
pub const NO_HEALTH_CHECKS: &str = "semantic/no-health-checks";

/// True when the intent's pods get the default TCP probes: a port, no usable health path,
/// and a workload that keeps running (a CronJob's pods run to completion).
pub fn default_probes(intent: &Intent) -> bool {
    let declared = intent
        .spec
        .health
        .as_ref()
        .is_some_and(|h| h.liveness.is_some() || h.readiness.is_some());
    intent.spec.port.is_some() && !declared && intent.kind != "CronJob"
}

pub fn check_intent(file: &SourceFile, doc: &Document, intent: &Intent) -> Vec<Diagnostic> {
    if !default_probes(intent) {
        return Vec::new();
    }
    let port = intent.spec.port.unwrap_or_default();
    let p = if doc.spans.get("/spec/health").is_some() {
        "/spec/health"
    } else {
        "/spec/port"
    };
    vec![
        Diagnostic::warning(
            NO_HEALTH_CHECKS,
            format!(
                "`{}` declares no health checks: its pods only get TCP probes on port {port}",
                intent.metadata.name
            ),
        )
        .in_file(&file.name)
        .at(doc.spans.locate(file, p))
        .pointer(p)
        .note("a TCP probe only sees that the port accepts connections: a process that hangs or cannot reach what it needs still gets traffic")
        .help("add HTTP health paths under `spec`, e.g. `health: {liveness: /healthz, readiness: /readyz}` (readiness: ready to serve; liveness: restart me when it fails)"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Health;

    fn intent(kind: &str, port: Option<u16>, health: Option<Health>) -> Intent {
        let mut i = Intent {
            kind: kind.into(),
            ..Default::default()
        };
        i.spec.port = port;
        i.spec.health = health;
        i
    }

    #[test]
    fn only_listening_long_running_pods_without_paths_get_default_probes() {
        let path = Some("/healthz".to_string());
        assert!(default_probes(&intent("Service", Some(8080), None)));
        assert!(default_probes(&intent("Worker", Some(9000), None)));
        assert!(default_probes(&intent(
            "Service",
            Some(8080),
            Some(Health::default())
        )));
        assert!(!default_probes(&intent(
            "Service",
            Some(8080),
            Some(Health {
                liveness: None,
                readiness: path.clone()
            })
        )));
        assert!(!default_probes(&intent("Worker", None, None)));
        assert!(!default_probes(&intent("CronJob", Some(8080), None)));
    }
}
