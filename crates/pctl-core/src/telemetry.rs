//! Where a workload's telemetry goes, as its NetworkPolicy needs to know it: the OTLP endpoint
//! the pods are given (`OTEL_EXPORTER_OTLP_ENDPOINT`: the organisation's
//! `observability.otel_endpoint`, or the service's own variable) split into the namespace,
//! address and port that egress must admit. Pure: no I/O.

use serde_json::{Value, json};

/// `deployment.otlp`: the destination of an OTLP endpoint URL, or null when it is not a URL.
///
/// - `namespace`: the collector's namespace for in-cluster names (`svc.ns`, `svc.ns.svc`,
///   `svc.ns.svc.cluster.local`); a bare name is in the pod's own namespace (`same_namespace`)
/// - `ip`: for an IPv4 address
/// - neither: a name outside the cluster, reached on its port at any address
/// - `port`: explicit, else the scheme's (http 80, https 443)
pub fn otlp_destination(endpoint: &str) -> Value {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Value::Null;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.starts_with('[') {
        // IPv6 literals: no rule of ours fits them; the internet rule decides.
        return Value::Null;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) => return Value::Null,
        },
        None => match scheme {
            "https" => (authority, 443),
            "http" => (authority, 80),
            _ => return Value::Null,
        },
    };
    let host = host.to_ascii_lowercase();
    if host.is_empty() || port == 0 {
        return Value::Null;
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return json!({"host": host, "port": port, "ip": host, "namespace": null, "same_namespace": false});
    }
    let short = host.strip_suffix(".cluster.local").unwrap_or(&host);
    let short = short.strip_suffix(".svc").unwrap_or(short);
    let labels: Vec<&str> = short.split('.').collect();
    let dns_label = |s: &str| crate::layout::is_name(s);
    let (namespace, same) = match labels.as_slice() {
        [svc] if dns_label(svc) => (None, true),
        // `svc.ns` resolves in the cluster through the pods' DNS search path.
        [svc, ns] if dns_label(svc) && dns_label(ns) => (Some(*ns), false),
        _ => (None, false),
    };
    json!({
        "host": host,
        "port": port,
        "ip": null,
        "namespace": namespace,
        "same_namespace": same,
    })
}

#[cfg(test)]
mod tests {
    use super::otlp_destination;

    #[test]
    fn in_cluster_endpoints_name_their_namespace_and_port() {
        let d = otlp_destination("http://opentelemetry-collector.observability.svc:4317");
        assert_eq!(d["namespace"], "observability");
        assert_eq!(d["port"], 4317);
        let d = otlp_destination("http://otel-collector.telemetry.svc.cluster.local:4318/v1");
        assert_eq!(d["namespace"], "telemetry");
        assert_eq!(d["port"], 4318);
        let d = otlp_destination("http://collector:4317");
        assert_eq!(d["same_namespace"], true);
        assert_eq!(otlp_destination("https://otel.telemetry.svc")["port"], 443);
    }

    #[test]
    fn other_endpoints() {
        let d = otlp_destination("http://10.1.2.3:4317");
        assert_eq!(d["ip"], "10.1.2.3");
        let d = otlp_destination("https://otlp.example.com");
        assert!(d["namespace"].is_null() && d["ip"].is_null());
        assert_eq!(d["port"], 443);
        assert!(otlp_destination("collector:4317").is_null());
        assert!(otlp_destination("http://x:notaport").is_null());
        assert!(otlp_destination("http://[::1]:4317").is_null());
    }
}
