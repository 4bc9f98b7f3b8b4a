//! pctl's compiler core: checked intents + organisation config + blueprints -> rendered deploy
//! tree + diagnostics, as a library. The pipeline stages it owns, one module each:
//! load -> validate -> resolve -> expand -> plan (records) -> review; `compile` chains them.
//!
//! This crate does no I/O: no file system, git, network, terminal, clock or environment. Its
//! callers (the `pctl` binary) read inputs into memory and hand over bytes; it hands back
//! trees, plans and diagnostics. Its dependency tree has no git, terminal or progress crate.

// A `Diagnostic` is big (it carries found/expected/help/labels), and it is the cold path: an
// error ends the run. Boxing it everywhere would cost clarity for nothing measurable.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod catalog;
pub mod compile;
pub mod contract;
pub mod cost;
pub mod diag;
pub mod digest;
pub mod exemption;
pub mod expand;
pub mod gitops;
pub mod graph;
pub mod guardrails;
pub mod image;
pub mod layout;
pub mod links;
pub mod load;
pub mod model;
pub mod plan;
pub mod policy;
pub mod quantity;
pub mod record;
pub mod release;
pub mod resolve;
pub mod review;
pub mod source;
pub mod teams;
pub mod telemetry;
pub mod validate;
