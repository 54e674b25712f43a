//! Validation against the compose-spec JSON schema.
//!
//! The schema file is the one embedded in Docker Compose v2.40.3 (compose-go
//! v2.9.1), kept verbatim in `schemas/compose-spec.json`. Compose reports a
//! single error per file: the most specific one (deepest instance path, an
//! "additional properties" error counting one level deeper than its object;
//! ties go to the first one found, properties before the object's own
//! keywords). Messages follow compose-go's wording, e.g.
//! `services.web additional properties 'foo' not allowed` or
//! `services.web.ports must be a array`.

use std::cmp::Ordering;
use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value as Json;

use super::error::LoadError;
use super::yaml::{path_string, Node, PathSeg, Value};

/// The compose-spec JSON schema, as shipped by compose-go v2.9.1.
pub const COMPOSE_SPEC_SCHEMA: &str = include_str!("../../schemas/compose-spec.json");

/// Compiled once; an error here means the embedded schema itself is broken.
static VALIDATOR: LazyLock<Result<Validator, String>> = LazyLock::new(|| {
    let schema: Json =
        serde_json::from_str(COMPOSE_SPEC_SCHEMA).map_err(|e| format!("parsing: {e}"))?;
    jsonschema::draft7::options()
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| format!("compiling: {e}"))
});

/// Checks a (interpolated, type-cast) compose document against the schema.
pub fn validate(doc: &Node) -> Result<(), LoadError> {
    let validator = VALIDATOR
        .as_ref()
        .map_err(|e| LoadError::Project(format!("embedded compose schema is invalid: {e}")))?;
    let instance = doc.to_json();
    let mut leaves = Vec::new();
    for error in validator.iter_errors(&instance) {
        collect_leaves(doc, &error, &mut leaves);
    }
    let leaves = group_required(leaves);
    match most_specific(leaves) {
        None => Ok(()),
        Some(leaf) => {
            let node = match &leaf.focus {
                Some(key) => doc
                    .find(&leaf.path)
                    .get(key)
                    .unwrap_or_else(|| doc.find(&leaf.path)),
                None => doc.find(&leaf.path),
            };
            Err(LoadError::invalid(
                &node.pos,
                path_string(&leaf.path),
                leaf.message,
            ))
        }
    }
}

/// One error that has no sub-errors, ready to be ranked and reported.
#[derive(Debug)]
struct Leaf {
    path: Vec<PathSeg>,
    /// Position of each path step in the document, used to break ties in
    /// document order (Go's map iteration makes Compose's own choice random).
    order: Vec<usize>,
    specificity: usize,
    message: String,
    /// For `required`: the missing property, so consecutive ones merge.
    missing: Option<String>,
    schema_path: String,
    /// Key whose node gives a better line than the path's own node.
    focus: Option<String>,
}

fn collect_leaves(doc: &Node, error: &ValidationError<'_>, out: &mut Vec<Leaf>) {
    match error.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context }
            if context.iter().any(|alt| !alt.is_empty()) =>
        {
            for alternative in context {
                for sub in alternative {
                    collect_leaves(doc, sub, out);
                }
            }
        }
        kind => {
            let (path, order) = resolve_path(doc, error.instance_path().as_str());
            let mut specificity = path.len();
            let mut order = order;
            let mut missing = None;
            let mut focus = None;
            let message = match kind {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    // Compose ranks this one level deeper than the object, and
                    // the object's children are checked before it.
                    specificity += 1;
                    order.push(usize::MAX);
                    focus = unexpected.first().cloned();
                    format!(
                        "additional properties {} not allowed",
                        quote_list(unexpected)
                    )
                }
                ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| property.to_string());
                    let message = format!("missing property {}", quote(&name));
                    missing = Some(name);
                    message
                }
                _ => describe(error),
            };
            out.push(Leaf {
                path,
                order,
                specificity,
                message,
                missing,
                schema_path: error.schema_path().as_str().to_owned(),
                focus,
            });
        }
    }
}

/// The validator reports each missing required property on its own; Compose
/// lists them together (`missing properties 'path', 'action'`).
fn group_required(leaves: Vec<Leaf>) -> Vec<Leaf> {
    let mut out: Vec<(Leaf, Vec<String>)> = Vec::with_capacity(leaves.len());
    for leaf in leaves {
        if let (Some(name), Some((prev, names))) = (&leaf.missing, out.last_mut()) {
            if prev.missing.is_some()
                && prev.path == leaf.path
                && prev.schema_path == leaf.schema_path
            {
                names.push(name.clone());
                continue;
            }
        }
        let names = leaf.missing.iter().cloned().collect();
        out.push((leaf, names));
    }
    out.into_iter()
        .map(|(mut leaf, names)| {
            if names.len() > 1 {
                leaf.message = format!("missing properties {}", quote_list(&names));
            }
            leaf
        })
        .collect()
}

/// Deepest error wins; ties go to document order, then to report order.
fn most_specific(leaves: Vec<Leaf>) -> Option<Leaf> {
    let mut best: Option<Leaf> = None;
    for leaf in leaves {
        let better = match &best {
            None => true,
            Some(b) => match leaf.specificity.cmp(&b.specificity) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => leaf.order < b.order,
            },
        };
        if better {
            best = Some(leaf);
        }
    }
    best
}

/// Turns a JSON pointer into path segments, using the document to tell map
/// keys that look like numbers (a service named `1`) from list indexes.
fn resolve_path(doc: &Node, pointer: &str) -> (Vec<PathSeg>, Vec<usize>) {
    let mut path = Vec::new();
    let mut order = Vec::new();
    let mut cur = Some(doc);
    for raw in pointer.split('/').skip(1) {
        let token = raw.replace("~1", "/").replace("~0", "~");
        match cur.map(|n| &n.value) {
            Some(Value::Seq(items)) => {
                let index = token.parse::<usize>().unwrap_or(usize::MAX);
                cur = items.get(index);
                order.push(index);
                path.push(PathSeg::Index(index));
            }
            Some(Value::Map(map)) => {
                order.push(map.get_index_of(&token).unwrap_or(usize::MAX));
                cur = map.get(&token);
                path.push(PathSeg::Key(token));
            }
            _ => {
                cur = None;
                order.push(usize::MAX);
                path.push(PathSeg::Key(token));
            }
        }
    }
    (path, order)
}

fn describe(error: &ValidationError<'_>) -> String {
    let instance: &Json = error.instance();
    match error.kind() {
        ValidationErrorKind::Type { kind } => {
            let wanted: Vec<JsonType> = match kind {
                TypeKind::Single(t) => vec![*t],
                TypeKind::Multiple(set) => set.iter().collect(),
            };
            format!("must be a {}", human_types(&wanted))
        }
        ValidationErrorKind::Minimum { limit } => {
            format!("must be greater than or equal to {}", number(limit))
        }
        ValidationErrorKind::Maximum { limit } => {
            format!("must be less than or equal to {}", number(limit))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("must be greater than {}", number(limit))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("must be less than {}", number(limit))
        }
        ValidationErrorKind::Enum { options } => match options.as_array() {
            Some(values) if values.len() == 1 => format!("value must be {}", display(&values[0])),
            Some(values) => format!(
                "value must be one of {}",
                values.iter().map(display).collect::<Vec<_>>().join(", ")
            ),
            None => format!("value must be {}", display(options)),
        },
        ValidationErrorKind::Constant { expected_value } => {
            format!("value must be {}", display(expected_value))
        }
        ValidationErrorKind::Pattern { pattern } => {
            let text = instance
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| instance.to_string());
            format!("{} does not match pattern {}", quote(&text), quote(pattern))
        }
        ValidationErrorKind::UniqueItems => match first_duplicate(instance) {
            Some((first, second)) => format!("items at {first} and {second} are equal"),
            None => "items must be unique".to_owned(),
        },
        ValidationErrorKind::MinItems { limit } => format!("minItems: got fewer than {limit}"),
        ValidationErrorKind::MaxItems { limit } => format!("maxItems: got more than {limit}"),
        ValidationErrorKind::MinLength { limit } => format!("length must be >= {limit}"),
        ValidationErrorKind::MaxLength { limit } => format!("length must be <= {limit}"),
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "must be valid against exactly one of the allowed forms".to_owned()
        }
        ValidationErrorKind::FalseSchema => "not allowed".to_owned(),
        _ => error.to_string(),
    }
}

/// `object` reads as `mapping`; several types are sorted and joined the
/// way Compose does (`boolean, null, number or string`).
fn human_types(types: &[JsonType]) -> String {
    let mut names: Vec<&str> = types
        .iter()
        .map(|t| match t {
            JsonType::Object => "mapping",
            JsonType::Array => "array",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Null => "null",
            JsonType::Number => "number",
            JsonType::String => "string",
        })
        .collect();
    if names.len() == 1 {
        return names[0].to_owned();
    }
    names.sort_unstable();
    match names.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Indexes of the first repeated item, as Compose reports them: the earliest
/// item that has an equal one before it, and that earlier one.
fn first_duplicate(instance: &Json) -> Option<(usize, usize)> {
    let items = instance.as_array()?;
    (1..items.len()).find_map(|i| {
        (0..i)
            .find(|&j| json_equal(&items[j], &items[i]))
            .map(|j| (j, i))
    })
}

/// JSON equality where `1` and `1.0` are the same number.
fn json_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers print as Go's big.Rat numerator would for integral limits.
fn number(v: &Json) -> String {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => v.to_string(),
    }
}

fn display(v: &Json) -> String {
    match v {
        Json::String(s) => quote(s),
        Json::Array(_) | Json::Object(_) => "value".to_owned(),
        Json::Null => "<nil>".to_owned(),
        other => other.to_string(),
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| quote(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Single-quoted, with Go-style escapes for control characters.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml::parse;

    fn check(src: &str) -> Result<(), LoadError> {
        let doc = parse(src, "compose.yaml").expect("test YAML parses");
        validate(&doc)
    }

    /// (line, path, message) of the reported error.
    fn error_of(src: &str) -> (usize, String, String) {
        match check(src) {
            Err(LoadError::Invalid { pos, path, msg }) => {
                assert_eq!(&*pos.file, "compose.yaml");
                (pos.line, path, msg)
            }
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn embedded_schema_compiles() {
        assert!(VALIDATOR.is_ok(), "{:?}", VALIDATOR.as_ref().err());
    }

    #[test]
    fn schema_file_is_compose_go_2_9() {
        let schema: Json = serde_json::from_str(COMPOSE_SPEC_SCHEMA).expect("valid JSON");
        let service = &schema["definitions"]["service"]["properties"];
        for key in [
            "develop",
            "provider",
            "post_start",
            "pre_stop",
            "use_api_socket",
            "models",
        ] {
            assert!(service.get(key).is_some(), "service.{key} missing");
        }
        assert!(schema["properties"].get("models").is_some());
    }

    #[test]
    fn valid_documents_pass() {
        let docs = [
            "services:\n  web:\n    image: nginx\n",
            "{}\n",
            "x-common: &c {a: 1}\nservices:\n  web:\n    image: x\n    x-extra: 1\n",
            "name: demo\nservices:\n  web:\n    image: x\n    ports: [80, \"8080:80\", {target: 80, published: \"8080\"}]\n",
            "services:\n  web:\n    build: .\n    depends_on: [db]\n  db:\n    image: postgres\n    healthcheck: {test: [CMD, \"true\"], interval: 10s}\n",
            "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy, required: false, restart: true}\n  db: {image: y}\n",
            "services:\n  web:\n    image: x\n    environment: {A: 1, B: null, C: true, D: x}\n    labels: [a=b]\n",
            "services:\n  web:\n    image: x\n    provider: {type: model, options: {model: ai/x}}\n    use_api_socket: true\n    post_start: [{command: ls}]\n    pre_stop: [{command: [echo, bye]}]\n    develop: {watch: [{path: ., action: sync, target: /app}]}\n    models: [m]\nmodels:\n  m: {model: ai/smollm2, context_size: 1024}\n",
            "services:\n  web:\n    image: x\n    cpu_count: 1.0\n",
            "services:\n  \"1\":\n    image: x\nnetworks:\n  n:\nvolumes:\n  v:\n",
        ];
        for doc in docs {
            assert!(check(doc).is_ok(), "{doc}: {:?}", check(doc));
        }
    }

    #[test]
    fn unknown_service_key() {
        let (line, path, msg) = error_of("services:\n  web:\n    image: x\n    foo: 1\n");
        assert_eq!(path, "services.web");
        assert_eq!(msg, "additional properties 'foo' not allowed");
        assert_eq!(line, 4, "points at the offending key");
    }

    #[test]
    fn several_unknown_keys_are_listed_in_document_order() {
        let (_, path, msg) = error_of("services:\n  web:\n    image: x\n    foo: 1\n    bar: 2\n");
        assert_eq!(path, "services.web");
        assert_eq!(msg, "additional properties 'foo', 'bar' not allowed");
    }

    #[test]
    fn unknown_top_level_key() {
        let (line, path, msg) = error_of("services: {}\nfoo: 1\n");
        assert_eq!(path, "");
        assert_eq!(msg, "additional properties 'foo' not allowed");
        assert_eq!(line, 2);
    }

    #[test]
    fn invalid_service_name_is_an_additional_property() {
        let (_, path, msg) = error_of("services:\n  \"w eb\":\n    image: x\n");
        assert_eq!(path, "services");
        assert_eq!(msg, "additional properties 'w eb' not allowed");
    }

    #[test]
    fn numeric_service_name_is_a_key_not_an_index() {
        let (line, path, msg) = error_of("services:\n  \"1\":\n    image: x\n    foo: 1\n");
        assert_eq!(path, "services.1");
        assert_eq!(msg, "additional properties 'foo' not allowed");
        assert_eq!(line, 4);
    }

    #[test]
    fn wrong_type_uses_compose_type_names() {
        let (line, path, msg) = error_of("services:\n  web:\n    image: x\n    ports: 80\n");
        assert_eq!((line, path.as_str()), (4, "services.web.ports"));
        assert_eq!(msg, "must be a array");

        let (_, path, msg) = error_of("services:\n  web:\n    image: x\n    environment: 1\n");
        assert_eq!(path, "services.web.environment");
        assert_eq!(msg, "must be a mapping");

        let (_, _, msg) = error_of("services:\n  web:\n    image: x\n    environment: {A: [1]}\n");
        assert_eq!(msg, "must be a boolean, null, number or string");

        let (_, _, msg) = error_of("services:\n  web:\n    image: x\n    privileged: 1\n");
        assert_eq!(msg, "must be a boolean or string");

        let (_, _, msg) =
            error_of("services:\n  web:\n    image: x\n    ulimits: {nofile: {soft: 1}}\n");
        assert_eq!(msg, "must be a integer or string");

        let (_, path, msg) = error_of("services:\n  web:\n    image:\n");
        assert_eq!(
            (path.as_str(), msg.as_str()),
            ("services.web.image", "must be a string")
        );

        let (_, _, msg) = error_of("services:\n  web:\n    image: x\n    command: {a: 1}\n");
        assert_eq!(msg, "must be a null", "first oneOf alternative wins");
    }

    #[test]
    fn first_one_of_alternative_wins_at_equal_depth() {
        // oneOf [string, integer >= 0]: Compose reports the string branch.
        let (_, path, msg) = error_of("services:\n  web:\n    image: x\n    cpu_count: -1\n");
        assert_eq!(path, "services.web.cpu_count");
        assert_eq!(msg, "must be a string");
        // A value cast to an int before validation (oom_score_adj: "5000").
        let (_, _, msg) = error_of("services:\n  web:\n    image: x\n    oom_score_adj: 5000\n");
        assert_eq!(msg, "must be a string");
    }

    #[test]
    fn minimum_inside_nested_one_of() {
        let src = "services:\n  web:\n    image: x\n    volumes:\n      - type: tmpfs\n        target: /x\n        tmpfs: {size: -1}\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(path, "services.web.volumes[0].tmpfs.size");
        assert_eq!(msg, "must be greater than or equal to 0");
        assert_eq!(line, 7);
    }

    #[test]
    fn deeper_error_inside_long_syntax_wins() {
        let src = "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - {target: 1, foo: 2}\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(path, "services.web.ports[1]");
        assert_eq!(msg, "additional properties 'foo' not allowed");
        assert_eq!(line, 6);
    }

    #[test]
    fn required_properties() {
        let src = "services:\n  web:\n    image: x\n    depends_on: {db: {}}\n  db: {image: y}\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(path, "services.web.depends_on.db");
        assert_eq!(msg, "missing property 'condition'");
        assert_eq!(line, 4);

        let src = "services:\n  web:\n    image: x\n    develop: {watch: [{}]}\n";
        let (_, path, msg) = error_of(src);
        assert_eq!(path, "services.web.develop.watch[0]");
        assert_eq!(msg, "missing properties 'path', 'action'");
    }

    #[test]
    fn additional_property_beats_missing_property_on_same_object() {
        let src =
            "services:\n  web:\n    image: x\n    depends_on: {db: {foo: 1}}\n  db: {image: y}\n";
        let (_, path, msg) = error_of(src);
        assert_eq!(path, "services.web.depends_on.db");
        assert_eq!(msg, "additional properties 'foo' not allowed");
    }

    #[test]
    fn child_error_beats_additional_property_of_its_parent() {
        // Both rank at depth 3; Compose checks properties first.
        for src in [
            "services:\n  web:\n    foo: 1\n    image: 1\n",
            "services:\n  web:\n    image: 1\n    foo: 1\n",
        ] {
            let (_, path, msg) = error_of(src);
            assert_eq!(path, "services.web.image");
            assert_eq!(msg, "must be a string");
        }
    }

    #[test]
    fn enum_values() {
        let src = "services:\n  web:\n    image: x\n    depends_on: {db: {condition: foo}}\n  db: {image: y}\n";
        let (_, path, msg) = error_of(src);
        assert_eq!(path, "services.web.depends_on.db.condition");
        assert_eq!(
            msg,
            "value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'"
        );
        let (_, _, msg) = error_of("services:\n  web:\n    image: x\n    gpus: some\n");
        assert_eq!(msg, "value must be 'all'");
    }

    #[test]
    fn pattern_mismatch() {
        let (_, path, msg) =
            error_of("services:\n  web:\n    image: x\n    container_name: \"-\"\n");
        assert_eq!(path, "services.web.container_name");
        assert_eq!(
            msg,
            "'-' does not match pattern '[a-zA-Z0-9][a-zA-Z0-9_.-]+'"
        );
    }

    #[test]
    fn duplicate_items() {
        let src = "services:\n  web:\n    image: x\n    group_add: [a, b, b, a]\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(path, "services.web.group_add");
        assert_eq!(msg, "items at 1 and 2 are equal");
        assert_eq!(line, 4);
    }

    #[test]
    fn strict_types_where_compose_has_no_string_form() {
        let src = "services:\n  web:\n    image: x\n    use_api_socket: \"true\"\n";
        let (_, path, msg) = error_of(src);
        assert_eq!(
            (path.as_str(), msg.as_str()),
            ("services.web.use_api_socket", "must be a boolean")
        );
        let src =
            "services:\n  web:\n    image: x\nmodels:\n  m: {model: a, context_size: \"12\"}\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(
            (path.as_str(), msg.as_str()),
            ("models.m.context_size", "must be a integer")
        );
        assert_eq!(line, 5);
    }

    #[test]
    fn list_item_of_wrong_type() {
        let src =
            "services:\n  db:\n    image: postgres\n    healthcheck:\n      test: [CMD, true]\n";
        let (line, path, msg) = error_of(src);
        assert_eq!(path, "services.db.healthcheck.test[1]");
        assert_eq!(msg, "must be a string");
        assert_eq!(line, 5);
    }

    #[test]
    fn services_must_be_a_mapping() {
        let (_, path, msg) = error_of("services: []\n");
        assert_eq!(
            (path.as_str(), msg.as_str()),
            ("services", "must be a mapping")
        );
    }
}
