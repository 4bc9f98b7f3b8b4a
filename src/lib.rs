//! pctl: a GitOps intent compiler. The pipeline, one module per stage:
//! discover -> load -> validate -> resolve -> expand -> plan (+ its render cache) -> publish
//! -> report.
//! `compile` is the pure core that chains validate's output through resolve, expand and plan.

// A `Diagnostic` is big (it carries found/expected/help/labels), and it is the cold path: an
// error ends the run. Boxing it everywhere would cost clarity for nothing measurable.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod catalog;
pub mod cli;
pub mod compile;
pub mod cost;
pub mod diag;
pub mod discover;
pub mod expand;
pub mod graph;
pub mod load;
pub mod metrics;
pub mod model;
pub mod new;
pub mod plan;
pub mod policy;
pub mod progress;
pub mod publish;
pub mod report;
pub mod resolve;
pub mod source;
pub mod validate;
