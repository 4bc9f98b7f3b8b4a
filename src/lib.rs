//! pctl, the command-line shell around `pctl_core`: discovery, the file system, git, the
//! terminal and the process exit code live here; compiling is the core's.
//!
//! discover -> inputs (read) -> [core: load, validate, resolve, expand, plan, review]
//! -> outdir | publish (write) -> report (diagnostics become text) -> exit code.

// A `Diagnostic` is big (it carries found/expected/help/labels), and it is the cold path.
#![allow(clippy::result_large_err)]

pub mod cache;
pub mod cli;
pub mod cmd;
pub mod contracts;
pub mod deploy_tree;
pub mod discover;
pub mod exit;
pub mod formats;
pub mod git;
pub mod inputs;
pub mod manual;
pub mod metrics;
pub mod new;
pub mod outdir;
pub mod pipeline;
pub mod progress;
pub mod publish;
pub mod redact;
pub mod report;
pub mod time;
