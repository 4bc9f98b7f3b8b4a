//! One module per subcommand: each parses nothing (clap did), calls the stages, and returns a
//! [`crate::exit::Report`] for `cli::finish` to render.

pub mod catalog;
pub mod cost;
pub mod graph;
pub mod preview;
pub mod promote;
pub mod publish;
pub mod render;
pub mod review;
pub mod schema;
pub mod status;
pub mod validate;
