//! `pctl schema`: the JSON Schema of platform.yaml as this run's blueprints make it (each
//! resource type's parameters come from its blueprint; `--blueprints` adds an organisation's),
//! or the organisation config's.

use crate::exit::{self, Report};
use pctl_core::source::SourceMap;
use pctl_core::validate::schema::{self, SchemaKind};
use std::path::Path;

pub fn run(kind: SchemaKind, blueprints: Option<&Path>) -> Report {
    if kind == SchemaKind::Organisation {
        return Report::new(Vec::new(), SourceMap::default(), exit::OK).stdout(schema::text(kind));
    }
    let sources = SourceMap::default();
    match crate::inputs::blueprints(blueprints, &sources) {
        Ok(set) => {
            Report::new(Vec::new(), sources, exit::OK).stdout(set.capabilities().schema.to_json())
        }
        Err(diags) => Report::failed(diags, sources, exit::INVALID),
    }
}
