//! Checks of a caller against its callees' contracts (`crate::contract`), run when a compile
//! knows them: the port a dependency names exists, the callee can be called and runs where
//! the caller does, a legacy `<DEP>_URL` suits the callee's protocol, the address of a contract
//! entry could be derived at all, and no variable holds a hand-written address of a service of
//! the organisation. Each finding is located in the caller's platform.yaml.

use super::Checked;
use crate::contract::Directory;
use crate::diag::{Diagnostic, join_pointer, one_of};
use crate::model::{Dependency, Intent, Org};
use serde_json::Value;
use std::collections::BTreeSet;

pub fn check(checked: &Checked<Intent>, dir: &Directory, org: &Org) -> Vec<Diagnostic> {
    let intent = &checked.model;
    let file = &checked.file;
    let at = |d: Diagnostic, pointer: &str| {
        d.in_file(&file.name)
            .at(checked.doc.spans.locate(file, pointer))
            .pointer(pointer)
    };
    let mut diags = Vec::new();
    let envs: Vec<&str> = org
        .spec
        .environments
        .iter()
        .filter(|e| intent.spec.environments.contains_key(&e.name))
        .map(|e| e.name.as_str())
        .collect();
    for (i, dep) in intent.spec.dependencies.iter().enumerate() {
        let name = dep.name();
        let p = format!("/spec/dependencies/{i}");
        let name_at = match dep {
            Dependency::Name(_) => p.clone(),
            Dependency::Contract(_) => format!("{p}/name"),
        };
        let named = dep.contract().is_some_and(|c| c.env.is_some());
        let Some(callee) = dir.get(name) else {
            if named {
                diags.push(
                    at(
                        Diagnostic::warning(
                            "dependency/unresolved",
                            format!("the address of `{name}` cannot be derived: this run does not know its contract"),
                        ),
                        &name_at,
                    )
                    .note("a callee's contract (its Service, namespace and ports) comes from its platform.yaml in a run over the organisation (--all), or from its record in the deploy repository (`diff`/`publish`) or in the output folder")
                    .help(format!("publish `{name}` first, or render with --all; the variable is left out of this render")),
                );
            }
            continue;
        };
        let Some(provides) = &callee.provides else {
            if dep.contract().is_some() {
                diags.push(
                    at(
                        Diagnostic::error(
                            "dependency/no-port",
                            format!("`{name}` receives no traffic (it has no port), so it cannot be called"),
                        ),
                        &name_at,
                    )
                    .help(format!("remove `{name}` from `dependencies`, or make it a Service with a port")),
                );
            }
            continue;
        };
        let port = match dep.contract().and_then(|c| c.port.as_ref()) {
            Some(wanted) => {
                match provides.ports.iter().find(|x| &x.name == wanted) {
                    Some(x) => Some(x),
                    None => {
                        let names: Vec<&str> =
                            provides.ports.iter().map(|x| x.name.as_str()).collect();
                        diags.push(
                        at(
                            Diagnostic::error(
                                "dependency/unknown-port",
                                format!("`{name}` has no port `{wanted}`"),
                            ),
                            &format!("{p}/port"),
                        )
                        .expected(one_of(&names))
                        .suggest(wanted, names.iter().copied(), format!("name a port of `{name}`, or leave `port` out for its primary port")),
                    );
                        None
                    }
                }
            }
            None => provides.ports.first(),
        };
        // A preview calls its dependencies where its cluster has them (previews are not deployed
        // where the callee's contract says it runs).
        if dep.contract().is_some() && intent.metadata.preview.is_none() {
            let missing: Vec<&&str> = envs
                .iter()
                .filter(|e| !callee.environments.iter().any(|c| c == **e))
                .collect();
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(|e| format!("`{e}`")).collect();
                diags.push(
                    at(
                        Diagnostic::error(
                            "dependency/not-deployed",
                            format!("`{name}` is not deployed to {}, where this service calls it", list.join(", ")),
                        ),
                        &name_at,
                    )
                    .note(format!("`{name}` runs in {}", if callee.environments.is_empty() { "no environment".to_string() } else { callee.environments.join(", ") }))
                    .help(format!("deploy `{name}` there too, or stop deploying this service where `{name}` is missing")),
                );
            }
        }
        if let Some(port) = port.filter(|x| x.protocol != "http" && !named) {
            diags.push(
                at(
                    Diagnostic::warning(
                        "dependency/legacy-url",
                        format!(
                            "`{name}` speaks {} on port `{}`, but this service gets the URL `{}_URL`, which a {} client cannot dial",
                            port.protocol,
                            port.name,
                            name.to_uppercase().replace('-', "_"),
                            port.protocol
                        ),
                    ),
                    &name_at,
                )
                .help(format!("name the variable the application reads: `- {{name: {name}, env: <VARIABLE>}}` renders `<host>:<port>`")),
            );
        }
    }
    diags.extend(hand_written(checked, dir));
    diags
}

/// Variables whose value addresses a service of the organisation by hand (`catalog:3550`,
/// `http://catalog`, `catalog.catalog.svc.cluster.local`): located warnings.
fn hand_written(checked: &Checked<Intent>, dir: &Directory) -> Vec<Diagnostic> {
    let intent = &checked.model;
    let me = intent.metadata.name.as_str();
    let deps: BTreeSet<String> = intent.spec.dependency_names().into_iter().collect();
    let mut found = Vec::new();
    let mut values: Vec<(String, &Value)> = intent
        .spec
        .env
        .iter()
        .map(|(k, v)| (join_pointer("/spec/env", k), v))
        .collect();
    for (env, o) in &intent.spec.environments {
        let base = join_pointer(&crate::diag::env_pointer(env), "env");
        values.extend(o.env.iter().map(|(k, v)| (join_pointer(&base, k), v)));
    }
    for (pointer, value) in values {
        let Some(text) = value.as_str() else { continue };
        let Some(target) = addressed(text, |n| n != me && dir.contains_key(n)) else {
            continue;
        };
        let var = pointer.rsplit('/').next().unwrap_or_default().to_string();
        let help = if deps.contains(&target) {
            format!(
                "let pctl render it from `{target}`'s contract: in `dependencies`, write `- {{name: {target}, env: {var}}}` and remove the value"
            )
        } else {
            format!(
                "add `- {{name: {target}, env: {var}}}` to `dependencies` (its network path is closed otherwise) and remove the value"
            )
        };
        found.push(
            Diagnostic::warning(
                "dependency/hand-written-address",
                format!("`{var}` holds a hand-written address of `{target}`"),
            )
            .in_file(&checked.file.name)
            .at(checked.doc.spans.locate(&checked.file, &pointer))
            .pointer(&pointer)
            .found(format!("`{text}`"))
            .note("hand-written addresses break when the callee's namespace, Service or port changes, and pctl cannot check them")
            .help(help),
        );
    }
    found
}

/// The service a value addresses, if any: a host whose first label is a service (`known`)
/// followed by its namespace or `svc`, or a bare service name with a port or after `://`.
pub fn addressed(text: &str, known: impl Fn(&str) -> bool) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let is_host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let mut start = 0;
    let chars: Vec<(usize, char)> = lower.char_indices().collect();
    let mut i = 0;
    while i <= chars.len() {
        let boundary = i == chars.len() || !is_host_char(chars[i].1);
        if boundary {
            let end = if i == chars.len() {
                lower.len()
            } else {
                chars[i].0
            };
            let token = &lower[start..end];
            if !token.is_empty() {
                let labels: Vec<&str> = token.trim_end_matches('.').split('.').collect();
                let first = labels[0];
                if known(first) {
                    let qualified = labels.len() >= 2
                        && (labels[1] == first
                            || labels[1] == "svc"
                            || labels.get(2) == Some(&"svc"));
                    let after = &lower[end..];
                    let with_port = after.starts_with(':')
                        && after[1..].starts_with(|c: char| c.is_ascii_digit());
                    let with_scheme = lower[..start].ends_with("://");
                    if qualified || (labels.len() == 1 && (with_port || with_scheme)) {
                        return Some(first.to_string());
                    }
                }
            }
            start = if i < chars.len() {
                chars[i].0 + chars[i].1.len_utf8()
            } else {
                end
            };
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::addressed;

    #[test]
    fn addresses_of_known_services_are_found_in_any_form() {
        let known = |n: &str| n == "catalog" || n == "cart";
        for v in [
            "catalog:3550",
            "http://catalog",
            "http://catalog/api",
            "catalog.catalog.svc.cluster.local:3550",
            "grpc://catalog.catalog:80",
            "catalog.svc",
            "dns:///catalog:3550",
        ] {
            assert_eq!(addressed(v, known).as_deref(), Some("catalog"), "{v}");
        }
        for v in [
            "catalog",
            "the catalog team",
            "catalogue:80",
            "https://shop.example/catalog",
            "redis-cart:6379",
            "8080",
        ] {
            assert_eq!(addressed(v, known), None, "{v}");
        }
    }
}
