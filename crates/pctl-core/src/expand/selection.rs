//! Which blueprint serves what. A workload kind may have several blueprints: a service picks
//! one by name with `spec.blueprint`, and uses the kind's *default* otherwise: the blueprint in
//! the kind's built-in folder (`web-service`, `worker`, `cron-job`; as shipped or replaced by
//! the organisation's folder), else the only one serving the kind. Only an ambiguous default
//! is an error. A resource type has exactly one blueprint (nothing could pick another).

use super::{Blueprint, Role};
use crate::diag::Diagnostic;
use crate::validate::schema::embedded_blueprints;
use std::collections::{BTreeMap, BTreeSet};

/// Workload kind -> default blueprint name. Conflicts (two blueprints of one resource type, or
/// a kind with several blueprints and no default) go to `diags`.
pub(super) fn defaults(
    blueprints: &[Blueprint],
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let builtin: BTreeSet<&str> = embedded_blueprints()
        .iter()
        .filter_map(|(p, _)| p.strip_suffix("/blueprint.yaml"))
        .collect();
    let mut kinds: BTreeMap<&str, Vec<&Blueprint>> = BTreeMap::new();
    let mut types: BTreeMap<&str, &Blueprint> = BTreeMap::new();
    for bp in blueprints {
        match &bp.role {
            Role::Workload(k) => kinds.entry(k.as_str()).or_default().push(bp),
            Role::Resource(t) => {
                if let Some(first) = types.insert(t.as_str(), bp) {
                    diags.push(
                        Diagnostic::error(
                            "blueprint/conflict",
                            format!(
                                "blueprints `{}` and `{}` both serve resource type `{t}`",
                                first.name, bp.name
                            ),
                        )
                        .in_file(&bp.manifest)
                        .help("keep one of them, or give one another `resource:` type"),
                    );
                }
            }
            Role::Addon(_) => {}
        }
    }
    let mut defaults = BTreeMap::new();
    for (kind, serving) in kinds {
        let in_builtin: Vec<&&Blueprint> = serving
            .iter()
            .filter(|b| builtin.contains(b.name.as_str()))
            .collect();
        let chosen = match (serving.as_slice(), in_builtin.as_slice()) {
            ([only], _) => Some(*only),
            (_, [one]) => Some(**one),
            _ => None,
        };
        match chosen {
            Some(bp) => {
                defaults.insert(kind.to_string(), bp.name.clone());
            }
            None => {
                let names: Vec<String> = serving.iter().map(|b| format!("`{}`", b.name)).collect();
                let (last, rest) = names.split_last().expect("two or more");
                diags.push(
                    Diagnostic::error(
                        "blueprint/conflict",
                        format!(
                            "blueprints {} and {last} serve workload `{kind}`, and none of them is its default",
                            rest.join(", ")
                        ),
                    )
                    .in_file(&serving[serving.len() - 1].manifest)
                    .note("a service picks a workload blueprint by name with `spec.blueprint`; without it, the kind's blueprint in its built-in folder (web-service, worker, cron-job), or the only one, applies")
                    .help("name the default one after the kind's built-in folder (e.g. `web-service`), or keep one of them"),
                );
            }
        }
    }
    defaults
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(name: &str, role: Role) -> Blueprint {
        Blueprint {
            name: name.into(),
            description: String::new(),
            role,
            outputs: Vec::new(),
            manifest: format!("{name}/blueprint.yaml"),
            builtin: false,
            resource_type: None,
        }
    }
    fn service(name: &str) -> Blueprint {
        bp(name, Role::Workload("Service".into()))
    }

    #[test]
    fn a_second_workload_blueprint_is_chosen_by_name_not_refused() {
        let mut diags = Vec::new();
        let d = defaults(
            &[service("grpc-service"), service("web-service")],
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(d["Service"], "web-service");
        // The only blueprint of a kind is its default, whatever its name.
        let d = defaults(&[service("grpc-service")], &mut diags);
        assert_eq!(d["Service"], "grpc-service");
        assert!(diags.is_empty());
    }

    #[test]
    fn an_ambiguous_default_or_a_doubled_resource_type_is_a_conflict() {
        let mut diags = Vec::new();
        let d = defaults(&[service("a"), service("b")], &mut diags);
        assert!(d.is_empty());
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "blueprint/conflict");
        assert!(
            diags[0].message.contains("`a` and `b`"),
            "{}",
            diags[0].message
        );
        let mut diags = Vec::new();
        defaults(
            &[
                bp("redis", Role::Resource("redis".into())),
                bp("redis2", Role::Resource("redis".into())),
            ],
            &mut diags,
        );
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("resource type `redis`"));
    }
}
