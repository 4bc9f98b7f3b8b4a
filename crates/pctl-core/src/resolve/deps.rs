//! The addresses a caller reads, rendered from its callees' contracts (docs/dependencies.md).
//!
//! - `- name` (legacy) and `{name}` without `env`: `<NAME>_URL`, the callee's URL
//!   (`http://<name>.<namespace>.svc.<domain>`, `:<port>` unless it is 80). Without the
//!   callee's contract, the legacy URL assumes port 80, as pctl always did.
//! - `{name, env: VAR}`: `VAR` in the form the callee port's protocol implies (`host:port` for
//!   grpc and tcp, the URL for http) or `form` says.
//! - `{name, env: {VAR: template}}`: each template filled from the address.
//!
//! An address that cannot be derived (unknown contract, unknown port) is left out; the
//! compile reports why (`validate::dependencies`).

use crate::contract::{DEPENDENCY_PLACEHOLDERS, Directory, address, fill, parse_template};
use crate::model::{DependencyEnv, Intent};

/// The variables of every dependency for one environment, in the order written.
pub fn variables(intent: &Intent, dir: &Directory, cluster_domain: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dep in &intent.spec.dependencies {
        let name = dep.name();
        let contract = dep.contract();
        let callee = dir.get(name).and_then(|c| c.provides.as_ref());
        let port = callee.and_then(|p| match contract.and_then(|c| c.port.as_ref()) {
            Some(wanted) => p.ports.iter().find(|x| &x.name == wanted),
            None => p.ports.first(),
        });
        let legacy_var = format!("{}_URL", name.to_uppercase().replace('-', "_"));
        let env = contract.and_then(|c| c.env.as_ref());
        let (Some(callee), Some(port)) = (callee, port) else {
            if env.is_none() && (callee.is_none() || contract.is_none()) {
                out.push((
                    legacy_var,
                    format!("http://{name}.{name}.svc.{cluster_domain}"),
                ));
            }
            continue;
        };
        let values = address(callee, port, cluster_domain);
        match env {
            None => out.push((legacy_var, values["url"].clone())),
            Some(DependencyEnv::Variable(var)) => {
                let form = contract.and_then(|c| c.form.as_deref()).unwrap_or(
                    if port.protocol == "http" {
                        "url"
                    } else {
                        "host:port"
                    },
                );
                let value = if form == "url" {
                    values["url"].clone()
                } else {
                    format!("{}:{}", values["host"], values["port"])
                };
                out.push((var.clone(), value));
            }
            Some(DependencyEnv::Templates(m)) => {
                for (var, t) in m {
                    if let Ok(parts) = parse_template(t, DEPENDENCY_PLACEHOLDERS) {
                        out.push((var.clone(), fill(&parts, &values)));
                    }
                }
            }
        }
    }
    out
}
