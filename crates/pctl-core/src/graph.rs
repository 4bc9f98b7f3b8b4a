//! The organisation's dependency graph: services, their resources and owners, and who calls
//! whom. Checked across all intents of a run (unknown dependencies with "did you mean",
//! cycles) and printed by `pctl graph` as Mermaid, Graphviz dot or JSON.

use crate::diag::Diagnostic;
use crate::model::Intent;
use crate::validate::Checked;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Node {
    pub name: String,
    pub kind: String,
    pub owner: String,
    pub system: Option<String>,
    /// (resource name, type)
    pub resources: Vec<(String, String)>,
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Graph {
    pub services: Vec<Node>,
}

impl Graph {
    pub fn new(intents: &[&Checked<Intent>]) -> Graph {
        let mut services: Vec<Node> = intents
            .iter()
            .map(|c| {
                let m = &c.model;
                Node {
                    name: m.metadata.name.clone(),
                    kind: m.kind.clone(),
                    owner: m.metadata.owner.clone(),
                    system: m.metadata.system.clone(),
                    resources: m
                        .spec
                        .resources
                        .iter()
                        .map(|(n, r)| (n.clone(), r.kind.clone().unwrap_or_default()))
                        .collect(),
                    dependencies: m.spec.dependency_names(),
                }
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Graph { services }
    }

    /// Who depends on `name`.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        self.services
            .iter()
            .filter(|s| s.dependencies.iter().any(|d| d == name))
            .map(|s| s.name.as_str())
            .collect()
    }

    pub fn mermaid(&self) -> String {
        let id = |s: &str| s.replace('-', "_");
        let mut out = String::from("flowchart LR\n");
        for s in &self.services {
            out.push_str(&format!(
                "  {}[\"{}<br/><small>{} · {}</small>\"]\n",
                id(&s.name),
                s.name,
                s.kind,
                s.owner
            ));
            for (r, t) in &s.resources {
                out.push_str(&format!("  {}__{}[(\"{r}: {t}\")]\n", id(&s.name), id(r)));
                out.push_str(&format!(
                    "  {} --- {}__{}\n",
                    id(&s.name),
                    id(&s.name),
                    id(r)
                ));
            }
        }
        for s in &self.services {
            for d in &s.dependencies {
                out.push_str(&format!("  {} --> {}\n", id(&s.name), id(d)));
            }
        }
        out
    }

    pub fn dot(&self) -> String {
        let mut out = String::from("digraph pctl {\n  rankdir=LR;\n  node [shape=box];\n");
        for s in &self.services {
            out.push_str(&format!(
                "  \"{}\" [label=\"{}\\n{} · {}\"];\n",
                s.name, s.name, s.kind, s.owner
            ));
            for (r, t) in &s.resources {
                out.push_str(&format!("  \"{}/{r}\" [shape=cylinder, label=\"{r}: {t}\"];\n  \"{}\" -> \"{}/{r}\" [arrowhead=none];\n", s.name, s.name, s.name));
            }
        }
        for s in &self.services {
            for d in &s.dependencies {
                out.push_str(&format!("  \"{}\" -> \"{d}\";\n", s.name));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Dependencies on services that do not exist (only meaningful when the run sees the whole
/// organisation) and dependency cycles.
pub fn check(intents: &[&Checked<Intent>], whole_organisation: bool) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let names: BTreeSet<&str> = intents
        .iter()
        .map(|c| c.model.metadata.name.as_str())
        .collect();
    let by_name: BTreeMap<&str, &Checked<Intent>> = intents
        .iter()
        .map(|c| (c.model.metadata.name.as_str(), *c))
        .collect();
    let dep_pointer = |i: usize| format!("/spec/dependencies/{i}");
    if whole_organisation {
        for c in intents {
            for (i, d) in c.model.spec.dependencies.iter().enumerate() {
                let d = d.name();
                if !names.contains(d) {
                    let p = dep_pointer(i);
                    diags.push(
                        Diagnostic::error("graph/unknown-dependency", format!("`{}` depends on `{d}`, which no platform.yaml in this organisation declares", c.model.metadata.name))
                            .in_file(&c.file.name)
                            .at(c.doc.spans.locate(&c.file, &p))
                            .pointer(&p)
                            .suggest(d, names.iter().copied(), "remove it, or add that service's repository to the organisation checkout"),
                    );
                }
            }
        }
    }
    // Cycles: strongly connected components (Kosaraju, iterative: no recursion limit), each
    // reported once with one concrete cycle through its smallest member.
    let idx: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let order: Vec<&str> = names.iter().copied().collect();
    let edges: Vec<Vec<usize>> = order
        .iter()
        .map(|n| {
            by_name[n]
                .model
                .spec
                .dependencies
                .iter()
                .filter_map(|d| idx.get(d.name()).copied())
                .collect()
        })
        .collect();
    for comp in strongly_connected(&edges) {
        // A service depending on itself is reported by validation already.
        if comp.len() < 2 {
            continue;
        }
        let members: BTreeSet<usize> = comp.iter().copied().collect();
        let first = *members.iter().next().expect("non-empty");
        // Walk inside the component until a node repeats: that is a cycle.
        let mut walk = vec![first];
        let mut cur = first;
        loop {
            let next = *edges[cur]
                .iter()
                .filter(|n| members.contains(n))
                .min()
                .expect("in a cycle");
            if let Some(pos) = walk.iter().position(|n| *n == next) {
                walk.drain(..pos);
                walk.push(next);
                break;
            }
            walk.push(next);
            cur = next;
        }
        let c = by_name[order[walk[0]]];
        let i = c
            .model
            .spec
            .dependencies
            .iter()
            .position(|d| d.name() == order[walk[1]])
            .unwrap_or(0);
        let p = dep_pointer(i);
        let shown: Vec<&str> = walk.iter().map(|n| order[*n]).collect();
        diags.push(
            Diagnostic::warning("graph/cycle", format!("dependency cycle: {}", shown.join(" → ")))
                .in_file(&c.file.name)
                .at(c.doc.spans.locate(&c.file, &p))
                .pointer(&p)
                .help("services that call each other deploy and fail together; break the cycle with an event (queue), or merge them"),
        );
    }
    diags
}

/// Strongly connected components of a graph given as adjacency lists (Kosaraju).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut seen = vec![false; n];
    let mut finish = Vec::with_capacity(n);
    for s in 0..n {
        if seen[s] {
            continue;
        }
        seen[s] = true;
        let mut stack = vec![(s, 0usize)];
        while let Some((v, i)) = stack.pop() {
            if i < edges[v].len() {
                stack.push((v, i + 1));
                let w = edges[v][i];
                if !seen[w] {
                    seen[w] = true;
                    stack.push((w, 0));
                }
            } else {
                finish.push(v);
            }
        }
    }
    let mut reverse = vec![Vec::new(); n];
    for (v, out) in edges.iter().enumerate() {
        for &w in out {
            reverse[w].push(v);
        }
    }
    let mut comp = vec![usize::MAX; n];
    let mut comps = Vec::new();
    for &s in finish.iter().rev() {
        if comp[s] != usize::MAX {
            continue;
        }
        let id = comps.len();
        let mut members = vec![s];
        comp[s] = id;
        let mut stack = vec![s];
        while let Some(v) = stack.pop() {
            for &w in &reverse[v] {
                if comp[w] == usize::MAX {
                    comp[w] = id;
                    members.push(w);
                    stack.push(w);
                }
            }
        }
        members.sort();
        comps.push(members);
    }
    comps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn intent(name: &str, deps: &[&str]) -> Checked<Intent> {
        let text = format!(
            "metadata: {{name: {name}}}\nspec:\n  dependencies: [{}]\n",
            deps.join(", ")
        );
        let file = SourceFile::new(format!("{name}/platform.yaml"), text);
        let doc = crate::load::parse(&file, crate::load::Options::default()).unwrap();
        let mut model = Intent::default();
        model.metadata.name = name.into();
        model.spec.dependencies = deps
            .iter()
            .map(|s| crate::model::Dependency::Name(s.to_string()))
            .collect();
        Checked {
            file,
            doc,
            model,
            ok: true,
        }
    }

    #[test]
    fn unknown_dependencies_and_cycles() {
        let all = [
            intent("a", &["b"]),
            intent("b", &["c"]),
            intent("c", &["a", "d"]),
            intent("d", &[]),
            intent("e", &["authz"]),
        ];
        let refs: Vec<&Checked<Intent>> = all.iter().collect();
        let diags = check(&refs, true);
        let msgs: Vec<String> = diags
            .iter()
            .map(|d| {
                format!(
                    "{} {} {}",
                    d.code,
                    d.file.as_deref().unwrap_or(""),
                    d.message
                )
            })
            .collect();
        assert!(
            msgs.contains(
                &"graph/cycle a/platform.yaml dependency cycle: a → b → c → a".to_string()
            ),
            "{msgs:?}"
        );
        assert_eq!(
            msgs.iter().filter(|m| m.starts_with("graph/cycle")).count(),
            1,
            "{msgs:?}"
        );
        let unknown = diags
            .iter()
            .find(|d| d.code == "graph/unknown-dependency")
            .unwrap();
        assert_eq!(unknown.span.unwrap().line, 3);
        // Without the whole organisation, an unknown name may live elsewhere: no error.
        assert!(
            check(&refs, false)
                .iter()
                .all(|d| d.code != "graph/unknown-dependency")
        );
        let g = Graph::new(&refs);
        assert_eq!(g.dependents("a"), ["c"]);
        assert!(g.mermaid().contains("  a --> b\n"));
        assert!(g.dot().contains("  \"c\" -> \"d\";\n"));
    }
}
