//! Cost showback: the monthly cost of every service, from the organisation's size catalogue
//! (`spec.sizes.<type>.<size>.usd_month`) and compute prices (`spec.compute_usd_month`), per
//! resource, service, team and environment. Pure arithmetic on the resolved model.
//!
//! Compute is priced at the replica floor: `replicas`, or `autoscale.min` (what always runs).

use crate::model::Org;
use crate::quantity::{parse_cpu, parse_memory};
use crate::resolve::Service;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub service: String,
    pub team: String,
    pub environment: String,
    /// `compute`, or the resource name.
    pub item: String,
    /// What was priced: "2 x (250m CPU, 256Mi)", "postgres medium (db.m6g.large)".
    pub what: String,
    pub usd_month: f64,
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The cost lines of one service, in environment then item order.
pub fn of_service(svc: &Service, org: &Org) -> Vec<Line> {
    let prices = org.spec.compute_usd_month.clone().unwrap_or_default();
    let team = svc.context["service"]["owner"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut lines = Vec::new();
    for d in &svc.deployments {
        let dep = &d.context["deployment"];
        let replicas = dep["replicas"]
            .as_u64()
            .or_else(|| dep["autoscale"]["min"].as_u64())
            .unwrap_or(1);
        let cpu = dep["compute"]["cpu"].as_str().unwrap_or("0");
        let mem = dep["compute"]["memory"].as_str().unwrap_or("0");
        let cores = parse_cpu(cpu).unwrap_or(0) as f64 / 1000.0;
        let gib = parse_memory(mem).unwrap_or(0) as f64 / (1u64 << 30) as f64;
        let compute = replicas as f64 * (cores * prices.cpu + gib * prices.memory_gib);
        lines.push(Line {
            service: svc.name.clone(),
            team: team.clone(),
            environment: d.env.clone(),
            item: "compute".into(),
            what: format!("{replicas} x ({cpu} CPU, {mem})"),
            usd_month: cents(compute),
        });
        for r in &d.resources {
            lines.push(Line {
                service: svc.name.clone(),
                team: team.clone(),
                environment: d.env.clone(),
                item: r["name"].as_str().unwrap_or_default().to_string(),
                what: format!(
                    "{} {} ({})",
                    r["type"].as_str().unwrap_or_default(),
                    r["size"].as_str().unwrap_or_default(),
                    r["class"].as_str().unwrap_or_default()
                ),
                usd_month: cents(r["usd_month"].as_f64().unwrap_or(0.0)),
            });
        }
    }
    lines
}

pub fn total(lines: &[Line]) -> f64 {
    cents(lines.iter().map(|l| l.usd_month).sum())
}

/// Sums by a key: `service`, `team`, `env` or `resource` (service/item).
pub fn by(lines: &[Line], key: &str) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for l in lines {
        let k = match key {
            "team" => l.team.clone(),
            "env" | "environment" => l.environment.clone(),
            "resource" => format!("{}/{}/{}", l.service, l.environment, l.item),
            _ => l.service.clone(),
        };
        *out.entry(k).or_default() += l.usd_month;
    }
    out.values_mut().for_each(|v| *v = cents(*v));
    out
}

/// "$1,234.50"
pub fn usd(x: f64) -> String {
    let neg = x < 0.0;
    let c = (x.abs() * 100.0).round() as u64;
    let (whole, frac) = (c / 100, c % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}${grouped}.{frac:02}", if neg { "-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats() {
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(-412.0), "-$412.00");
        assert_eq!(usd(0.004), "$0.00");
        assert_eq!(usd(1_000_000.0), "$1,000,000.00");
    }
}
