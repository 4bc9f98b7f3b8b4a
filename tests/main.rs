//! pctl's integration tests, one module per area, linked into one test binary: one link of
//! pctl and its dependencies instead of one per file (minutes of CI time and gigabytes of
//! `target/` on a 2-core machine). `cargo test --test suite golden::` runs one area;
//! `PCTL_BLESS=1 cargo test --test suite golden::` rewrites its expected files.

mod support;

mod action;
mod architecture;
mod attacks;
mod batch;
mod blueprint_errors;
mod cache;
mod catalog;
mod checkov;
mod cli;
mod cloud_security;
mod companions;
mod contention;
mod corpus;
mod cost;
mod cross_object;
mod dependency_contract;
mod determinism;
mod docs;
mod escaping;
mod exemptions;
mod golden;
mod metrics;
mod new;
mod new_workflow;
mod observability;
mod oracle;
mod policy;
mod preview;
mod promote;
mod publish;
mod readme;
mod redaction;
mod resource_types;
mod shards;
mod status;
