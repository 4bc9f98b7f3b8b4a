//! `pctl graph`: the dependency graph of the services found, as Mermaid, dot or JSON.

use crate::exit::{self, Report};
use crate::inputs::{Inputs, check};
use crate::pipeline::{fail, input_exit};
use crate::report::Format;
use pctl_core::diag::has_errors;
use pctl_core::model::Intent;
use pctl_core::validate::Checked;

pub fn run(input: &Inputs, format: Format) -> Report {
    let run = check(input);
    if has_errors(&run.diags) {
        return fail(&run, &run.diags, input_exit(&run));
    }
    let intents: Vec<&Checked<Intent>> = run.intents.iter().map(|(_, c)| c).collect();
    let graph = pctl_core::graph::Graph::new(&intents);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&graph).expect("json") + "\n",
        Format::Dot => graph.dot(),
        _ => graph.mermaid(),
    };
    let mut report = Report::new(run.diags, run.sources, exit::OK).stdout(text);
    // --format chooses the graph's notation; diagnostics are for people.
    report.diag_format = Some(Format::Human);
    report
}
