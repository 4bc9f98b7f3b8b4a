//! The compile core is a pure function: the order intents arrive in (file system, threads)
//! never changes a byte of output.

use pctl::inputs::check_inputs;
use pctl_core::compile::compile;
use pctl_core::resolve::Source;
use std::path::Path;

#[test]
fn shuffled_input_order_gives_identical_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for fixture in ["fixtures/acme", "fixtures/acme-flux"] {
        let run = check_inputs(&root.join(fixture), true, None, None);
        assert!(
            !pctl_core::diag::has_errors(&run.diags),
            "{fixture}: {:?}",
            run.diags
        );
        let org = run.org.as_ref().unwrap();
        let blueprints = run.blueprints.as_ref().unwrap();
        let source = |name: &str| Source {
            repository: format!("https://github.com/acme/{name}"),
            sha: "0".repeat(40),
            image_tag: "1.0.0".into(),
            image_digest: None,
        };
        let intents: Vec<_> = run
            .intents
            .iter()
            .map(|(_, c)| (c.clone(), source(&c.model.metadata.name)))
            .collect();
        assert!(
            intents.len() >= 2,
            "{fixture}: need several services to shuffle"
        );
        let forward = compile(&org.model, &intents, blueprints);
        let mut reversed_input = intents.clone();
        reversed_input.reverse();
        let reversed = compile(&org.model, &reversed_input, blueprints);
        let mut rotated_input = intents.clone();
        rotated_input.rotate_left(1);
        let rotated = compile(&org.model, &rotated_input, blueprints);
        assert!(
            !pctl_core::diag::has_errors(&forward.diagnostics),
            "{:?}",
            forward.diagnostics
        );
        assert_eq!(
            forward.diagnostics, reversed.diagnostics,
            "{fixture}: diagnostics depend on input order"
        );
        assert!(!forward.tree.is_empty());
        assert_eq!(
            forward.tree, reversed.tree,
            "{fixture}: reversed input changed the output"
        );
        assert_eq!(
            forward.tree, rotated.tree,
            "{fixture}: rotated input changed the output"
        );
    }
}

#[test]
fn organisation_files_do_not_depend_on_which_services_are_rendered() {
    // Each app repo publishes alone; the shared entry points must come out the same either way.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for fixture in ["fixtures/acme", "fixtures/acme-flux"] {
        let run = check_inputs(&root.join(fixture), true, None, None);
        let (org, blueprints) = (run.org.as_ref().unwrap(), run.blueprints.as_ref().unwrap());
        let src = Source {
            repository: "r".into(),
            sha: "0".repeat(40),
            image_tag: "t".into(),
            image_digest: None,
        };
        let all: Vec<_> = run
            .intents
            .iter()
            .map(|(_, c)| (c.clone(), src.clone()))
            .collect();
        let full = compile(&org.model, &all, blueprints);
        let org_files = |tree: &pctl_core::expand::Tree| -> Vec<(String, String)> {
            tree.iter()
                .filter(|(_, f)| f.owner == pctl_core::expand::Owner::Org)
                .map(|(p, f)| (p.clone(), f.content.clone()))
                .collect()
        };
        assert!(!org_files(&full.tree).is_empty());
        for one in &all {
            let alone = compile(&org.model, std::slice::from_ref(one), blueprints);
            assert_eq!(
                org_files(&alone.tree),
                org_files(&full.tree),
                "{fixture}: {}",
                one.0.model.metadata.name
            );
        }
    }
}
