//! The published JSON Schemas in docs/schema are the ones the types generate:
//! a change of the report or facts shape must regenerate them
//! (`e2et-score schema report > docs/schema/report.schema.json`) and bump
//! the document's `version`.
use e2et_score::{schema, SchemaKind};

fn published(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../docs/schema/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap_or_default()
}

#[test]
fn report_schema_is_published_and_current() {
    assert_eq!(schema(SchemaKind::Report), published("report.schema.json"));
    assert!(schema(SchemaKind::Report).contains("\"version\""));
}

#[test]
fn facts_schema_is_published_and_current() {
    assert_eq!(schema(SchemaKind::Facts), published("facts.schema.json"));
}
