//! Guardrail exemptions (`spec.exemptions`): a service exempts itself from one guardrail, in
//! some environments, for its workload or one in-cluster resource, with a reason. The finding
//! is not dropped: it becomes a note located at the exemption, the exemption is recorded in
//! the service's record (so reviews show new and changed ones) and annotated on its catalog
//! entity. An exemption that matches nothing is a warning (it is stale).

use crate::diag::{Diagnostic, Severity};
use crate::model::{Exemption, Intent};
use crate::plan::Change;
use crate::validate::Checked;
use std::fmt::Write as _;

/// A guardrail's finding on an intent, before exemptions apply.
pub struct Finding {
    pub guardrail: &'static str,
    /// The environment it is about, if any.
    pub env: Option<String>,
    /// The in-cluster resource it is about; none for the workload itself.
    pub resource: Option<String>,
    pub diagnostic: Diagnostic,
}

fn covers(e: &Exemption, f: &Finding) -> bool {
    e.guardrail == f.guardrail
        && e.resource == f.resource
        && (e.environments.is_empty()
            || f.env
                .as_ref()
                .is_some_and(|env| e.environments.contains(env)))
}

/// The diagnostics of `findings` once the intent's exemptions apply, and a warning for each
/// exemption that matched nothing (of a guardrail that is on: `active`).
pub fn apply(
    checked: &Checked<Intent>,
    findings: Vec<Finding>,
    active: impl Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    let exemptions = &checked.model.spec.exemptions;
    let file = &checked.file;
    let at = |i: usize| {
        let p = format!("/spec/exemptions/{i}");
        (checked.doc.spans.locate(file, &p), p)
    };
    let mut used = vec![false; exemptions.len()];
    let mut out = Vec::new();
    for f in findings {
        match exemptions.iter().position(|e| covers(e, &f)) {
            Some(i) => {
                used[i] = true;
                let e = &exemptions[i];
                let (span, p) = at(i);
                out.push(
                    Diagnostic::new(
                        Severity::Note,
                        "exemption/applied",
                        format!(
                            "exempted from guardrail `{}`: {}",
                            f.guardrail, f.diagnostic.message
                        ),
                    )
                    .in_file(&file.name)
                    .at(span)
                    .pointer(&p)
                    .note(format!("reason: {}", e.reason)),
                );
            }
            None => out.push(f.diagnostic),
        }
    }
    for (i, e) in exemptions.iter().enumerate() {
        if !used[i] && active(&e.guardrail) {
            let (span, p) = at(i);
            out.push(
                Diagnostic::warning(
                    "exemption/unused",
                    format!("the exemption from `{}` matches no finding", e.guardrail),
                )
                .in_file(&file.name)
                .at(span)
                .pointer(&p)
                .help("remove it: the service meets the guardrail there (or check `environments` and `resource`)"),
            );
        }
    }
    out
}

/// The review section on exemptions: those the changed service records add or change, and
/// those they drop. Empty when none changed.
pub fn review_section(changes: &[Change]) -> String {
    let read = |b: Option<&[u8]>| -> Vec<Exemption> {
        b.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .and_then(|v| serde_json::from_value(v["exemptions"].clone()).ok())
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    for c in changes
        .iter()
        .filter(|c| c.path.starts_with(".pctl/services/"))
    {
        let old = read(c.old.as_deref());
        let new = read(c.new.as_deref().map(str::as_bytes));
        // Records are claims anyone with push access may have written: every text escaped.
        let text = crate::expand::escape::markdown_text;
        for e in new.iter().filter(|e| !old.contains(e)) {
            let mut line = format!(
                "- ⚠️ **{}**: new exemption from guardrail {}",
                text(&c.owner),
                text(&e.guardrail)
            );
            if let Some(r) = &e.resource {
                let _ = write!(line, " for resource {}", text(r));
            }
            if !e.environments.is_empty() {
                let _ = write!(line, " in {}", text(&e.environments.join(", ")));
            }
            let _ = write!(line, ": {}", text(&e.reason));
            lines.push(line);
        }
        for e in old.iter().filter(|e| !new.contains(e)) {
            lines.push(format!(
                "- {}: exemption from guardrail {} removed",
                text(&c.owner),
                text(&e.guardrail)
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("### Guardrail exemptions\n\n{}\n\n", lines.join("\n"))
}
