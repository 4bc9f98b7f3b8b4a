//! The compile core is a pure function: the order intents arrive in (file system, threads)
//! never changes a byte of output.

use pctl::cli::check_inputs;
use pctl::compile::compile;
use pctl::resolve::Source;
use std::path::Path;

#[test]
fn shuffled_input_order_gives_identical_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for fixture in ["fixtures/acme", "fixtures/acme-flux"] {
        let run = check_inputs(&root.join(fixture), true, None, None);
        assert!(run.diags.is_empty(), "{fixture}: {:?}", run.diags);
        let org = run.org.as_ref().unwrap();
        let blueprints = run.blueprints.as_ref().unwrap();
        let source = |name: &str| Source {
            repository: format!("https://github.com/acme/{name}"),
            sha: "0".repeat(40),
            image_tag: "1.0.0".into(),
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
        assert!(forward.diagnostics.is_empty(), "{:?}", forward.diagnostics);
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
