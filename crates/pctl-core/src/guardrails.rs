//! The built-in guardrails: their names, default levels, and the level the organisation config
//! sets (`spec.guardrails`: deny / warn / off). Read by validation (the registry rule is checked
//! at the image's line) and by `policy`, which evaluates the rest.

use crate::diag::Severity;
use crate::model::Org;

/// The built-in guardrails and their default levels (None: off unless the organisation sets it).
pub const GUARDRAILS: &[(&str, Option<Severity>, &str)] = &[
    (
        "registry",
        Some(Severity::Error),
        "images only from the organisation's registries",
    ),
    (
        "latest_tag",
        Some(Severity::Error),
        "never deploy the `latest` tag",
    ),
    (
        "production_replicas",
        Some(Severity::Error),
        "protected environments run at least 2 replicas (or autoscale from 2); 0 (paused) is allowed",
    ),
    (
        "production_contacts",
        Some(Severity::Warning),
        "services in protected environments declare oncall and runbook",
    ),
    (
        "sizes",
        Some(Severity::Error),
        "resource sizes allowed per environment (spec.allowed_sizes)",
    ),
    (
        "labels",
        Some(Severity::Error),
        "every object labelled and every Terraform module tagged with service, team, environment, cost centre",
    ),
    (
        "budget",
        Some(Severity::Warning),
        "a team's monthly cost stays within its budget",
    ),
    (
        "image_digest",
        None,
        "protected environments run images by digest (`--image-digest`)",
    ),
];

/// The level of a guardrail: the organisation's setting, else the default. None = off.
pub fn level(org: &Org, name: &str) -> Option<Severity> {
    match org.spec.guardrails.get(name).map(String::as_str) {
        Some("deny") => Some(Severity::Error),
        Some("warn") => Some(Severity::Warning),
        Some("off") => None,
        _ => GUARDRAILS
            .iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|(_, s, _)| *s),
    }
}
