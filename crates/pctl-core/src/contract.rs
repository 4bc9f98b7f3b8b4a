//! The dependency contract: what a service provides to its callers (its Kubernetes Service, the
//! namespace, each port with its protocol) and where it runs. A caller's addresses are derived
//! from its callees' contracts, never written by hand (docs/dependencies.md).
//!
//! A run over the whole organisation knows every contract from the intents. A run of one
//! application takes its callees' contracts from their records in the deploy repository (or the
//! output folder): each service's record carries what it provides (`record::Record::provides`).
//! Contracts are an input of the compile, which stays pure.

use crate::model::{Intent, Org, Spec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Protocols a port may speak.
pub const PROTOCOLS: &[&str] = &["http", "grpc", "tcp"];

/// What a service provides to callers: its Service, namespace and ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provides {
    /// The Kubernetes Service callers address.
    pub service: String,
    pub namespace: String,
    /// In the service's order: the first is its primary port.
    pub ports: Vec<ProvidedPort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedPort {
    pub name: String,
    /// The container port (what NetworkPolicies see).
    pub port: u16,
    /// The Service's port (what callers dial).
    pub service_port: u16,
    /// `http`, `grpc` or `tcp`.
    pub protocol: String,
}

/// What a caller knows of a callee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// None for a workload without ports (a Worker or CronJob cannot be called).
    pub provides: Option<Provides>,
    /// The environments it is deployed to.
    pub environments: Vec<String>,
}

/// Service name -> contract.
pub type Directory = BTreeMap<String, Contract>;

/// The ports of a spec: `ports` as declared, or the legacy `port` (`http`, Service port 80).
pub fn ports_of(spec: &Spec) -> Vec<ProvidedPort> {
    if !spec.ports.is_empty() {
        return spec
            .ports
            .iter()
            .filter_map(|p| {
                let port = p.port?;
                Some(ProvidedPort {
                    name: p.name.clone(),
                    port,
                    service_port: p.service_port.unwrap_or(port),
                    protocol: p.protocol.clone().unwrap_or_else(|| "http".into()),
                })
            })
            .collect();
    }
    spec.port
        .map(|port| ProvidedPort {
            name: "http".into(),
            port,
            service_port: 80,
            protocol: "http".into(),
        })
        .into_iter()
        .collect()
}

/// What a service provides, from its intent (None when it has no port).
pub fn provides(intent: &Intent) -> Option<Provides> {
    let ports = ports_of(&intent.spec);
    if ports.is_empty() || intent.kind != "Service" {
        return None;
    }
    let name = intent.metadata.name.clone();
    Some(Provides {
        service: name.clone(),
        namespace: name,
        ports,
    })
}

/// A service's contract, from its intent.
pub fn of(intent: &Intent, org: &Org) -> Contract {
    Contract {
        provides: provides(intent),
        environments: org
            .spec
            .environments
            .iter()
            .filter(|e| intent.spec.environments.contains_key(&e.name))
            .map(|e| e.name.clone())
            .collect(),
    }
}

/// The contracts of a run's intents.
pub fn directory<'a>(intents: impl IntoIterator<Item = &'a Intent>, org: &Org) -> Directory {
    intents
        .into_iter()
        .filter(|i| !i.metadata.name.is_empty())
        .map(|i| (i.metadata.name.clone(), of(i, org)))
        .collect()
}

/// A digest of the contracts of `names` (unknown ones included as unknown): part of a caller's
/// render cache key, so that a callee's port change re-renders its callers.
pub fn digest_of(dir: &Directory, names: &[String]) -> String {
    let picked: BTreeMap<&String, Option<&Contract>> =
        names.iter().map(|n| (n, dir.get(n))).collect();
    crate::digest::sha256(&serde_json::to_string(&picked).expect("contracts serialise"))
}

/// Why a contract read from a record cannot be used (see `record::verify`).
pub fn check_provides(service: &str, p: &Provides) -> Result<(), String> {
    if p.service != service || p.namespace != service {
        return Err(format!(
            "it says `{service}` is reached at Service `{}` in namespace `{}`, but pctl names both after the service",
            crate::diag::escape_control(&p.service),
            crate::diag::escape_control(&p.namespace)
        ));
    }
    for port in &p.ports {
        let name_ok = !port.name.is_empty()
            && port.name.len() <= 15
            && port
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok || port.port == 0 || port.service_port == 0 {
            return Err(format!(
                "it declares a port `{}` that is not a valid port",
                crate::diag::escape_control(&port.name)
            ));
        }
        if !PROTOCOLS.contains(&port.protocol.as_str()) {
            return Err(format!(
                "port `{}` has protocol `{}`, not one of http, grpc, tcp",
                port.name,
                crate::diag::escape_control(&port.protocol)
            ));
        }
    }
    Ok(())
}

/// One part of a connection template: literal text or a `{placeholder}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Text(String),
    Property(String),
}

/// A template such as `"{host}:{port}"`, checked against the placeholders it may use. Braces
/// only ever enclose a placeholder. Errors: (character offset, what is wrong).
pub fn parse_template(template: &str, allowed: &[&str]) -> Result<Vec<Part>, (usize, String)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err((i, "a `{` without its `}`".into()));
                }
                if !allowed.contains(&name.as_str()) {
                    return Err((i, format!("unknown placeholder `{{{name}}}`")));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Property(name));
            }
            '}' => return Err((i, "a `}` without its `{`".into())),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// Fills a parsed template with values (a missing value stays empty).
pub fn fill(parts: &[Part], values: &BTreeMap<&str, String>) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::Property(name) => values.get(name.as_str()).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Placeholders of a dependency template.
pub const DEPENDENCY_PLACEHOLDERS: &[&str] =
    &["host", "port", "name", "namespace", "scheme", "url"];

/// The values a caller's templates see for one port of a callee.
pub fn address(
    p: &Provides,
    port: &ProvidedPort,
    cluster_domain: &str,
) -> BTreeMap<&'static str, String> {
    let host = format!("{}.{}.svc.{cluster_domain}", p.service, p.namespace);
    let scheme = port.protocol.clone();
    // Port 80 of an HTTP Service is the URL's default: the legacy `<DEP>_URL` bytes stay.
    let url = if scheme == "http" && port.service_port == 80 {
        format!("http://{host}")
    } else {
        format!("{scheme}://{host}:{}", port.service_port)
    };
    BTreeMap::from([
        ("host", host),
        ("port", port.service_port.to_string()),
        ("name", p.service.clone()),
        ("namespace", p.namespace.clone()),
        ("scheme", scheme),
        ("url", url),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_only_known_placeholders() {
        let parts = parse_template("{host}:{port}", DEPENDENCY_PLACEHOLDERS).unwrap();
        assert_eq!(
            parts,
            [
                Part::Property("host".into()),
                Part::Text(":".into()),
                Part::Property("port".into())
            ]
        );
        assert!(parse_template("{hots}:1", DEPENDENCY_PLACEHOLDERS).is_err());
        assert_eq!(parse_template("a{host", &["host"]).unwrap_err().0, 1);
        assert!(parse_template("a}b", &["host"]).is_err());
        assert_eq!(
            parse_template("plain", &[]).unwrap(),
            [Part::Text("plain".into())]
        );
    }

    #[test]
    fn addresses_use_the_service_port_and_the_cluster_domain() {
        let p = Provides {
            service: "email".into(),
            namespace: "email".into(),
            ports: vec![],
        };
        let grpc = ProvidedPort {
            name: "grpc".into(),
            port: 8080,
            service_port: 5000,
            protocol: "grpc".into(),
        };
        let a = address(&p, &grpc, "cluster.local");
        assert_eq!(a["host"], "email.email.svc.cluster.local");
        assert_eq!(a["port"], "5000");
        assert_eq!(a["url"], "grpc://email.email.svc.cluster.local:5000");
        let http = ProvidedPort {
            protocol: "http".into(),
            service_port: 80,
            ..grpc
        };
        assert_eq!(
            address(&p, &http, "c.example")["url"],
            "http://email.email.svc.c.example"
        );
    }

    #[test]
    fn a_record_cannot_point_callers_elsewhere() {
        let ok = Provides {
            service: "api".into(),
            namespace: "api".into(),
            ports: vec![ProvidedPort {
                name: "http".into(),
                port: 8080,
                service_port: 80,
                protocol: "http".into(),
            }],
        };
        assert!(check_provides("api", &ok).is_ok());
        let moved = Provides {
            namespace: "evil".into(),
            ..ok.clone()
        };
        assert!(check_provides("api", &moved).is_err());
        let mut odd = ok.clone();
        odd.ports[0].protocol = "udp".into();
        assert!(check_provides("api", &odd).is_err());
    }
}
