//! docs/report-json.md read as a schema: its object tables and value sets,
//! and a check of real JSON reports against them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// One object type of docs/report-json.md: field name -> type.
type Shape = BTreeMap<String, String>;

/// The object types and value sets that docs/report-json.md documents.
pub struct Documented {
    objects: BTreeMap<String, Shape>,
    sets: BTreeMap<String, Vec<String>>,
}

/// Code spans of a Markdown table cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Read the object tables (`### \`name\`` then `| field | type | meaning |`)
/// and the value sets table of the documentation.
pub fn documented() -> Documented {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-json.md"))
        .expect("docs/report-json.md");
    let mut objects = BTreeMap::new();
    let mut sets = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_sets = false;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = code_spans(heading).into_iter().next();
            in_sets = false;
            continue;
        }
        if line.starts_with("## ") {
            current = None;
            in_sets = line == "## Value sets";
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if !line.starts_with('|') || cells.len() < 2 || cells[0].starts_with("---") {
            continue;
        }
        let (Some(first), Some(second)) = (code_spans(cells[0]).pop(), code_spans(cells[1]).first().cloned())
        else {
            continue;
        };
        if in_sets {
            sets.insert(first, code_spans(cells[1]));
        } else if let Some(object) = &current {
            objects
                .entry(object.clone())
                .or_insert_with(Shape::new)
                .insert(first, second);
        }
    }
    assert!(
        objects.len() > 10 && sets.len() > 5,
        "the documentation's tables were read"
    );
    Documented { objects, sets }
}

impl Documented {
    /// Check `value` against documented type `ty`; problems go to `errors` with their JSON path.
    fn check(&self, value: &Value, ty: &str, path: &str, errors: &mut Vec<String>) {
        if let Some(inner) = ty.strip_suffix(" or null") {
            if !value.is_null() {
                self.check(value, inner, path, errors);
            }
            return;
        }
        let mut fail = |what: &str| errors.push(format!("{path}: expected {what}, found {value}"));
        if let Some(item) = ty.strip_prefix("array of ") {
            match value.as_array() {
                Some(items) => {
                    for (i, v) in items.iter().enumerate() {
                        self.check(v, item, &format!("{path}[{i}]"), errors);
                    }
                }
                None => fail(ty),
            }
            return;
        }
        if let Some(set) = ty.strip_prefix("enum ") {
            let values = self
                .sets
                .get(set)
                .unwrap_or_else(|| panic!("value set {set} is documented"));
            if !value.as_str().is_some_and(|s| values.iter().any(|v| v == s)) {
                fail(&format!("one of {values:?}"));
            }
            return;
        }
        match ty {
            "string" if value.is_string() => {}
            "integer" if value.is_i64() || value.is_u64() => {}
            "ms" if value.is_u64() => {}
            "boolean" if value.is_boolean() => {}
            "time"
                if value
                    .as_str()
                    .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()) => {
            }
            "string" | "integer" | "ms" | "boolean" | "time" => fail(ty),
            object => {
                let shape = self
                    .objects
                    .get(object)
                    .unwrap_or_else(|| panic!("{path}: type {object} is not documented"));
                let Some(map) = value.as_object() else {
                    return fail(&format!("object {object}"));
                };
                for (field, field_ty) in shape {
                    match map.get(field) {
                        Some(v) => self.check(v, field_ty, &format!("{path}.{field}"), errors),
                        None => errors.push(format!("{path}: documented field {field} is missing")),
                    }
                }
                for field in map.keys().filter(|k| !shape.contains_key(*k)) {
                    errors.push(format!("{path}: field {field} is not documented"));
                }
            }
        }
    }

    /// Check `value` against the documented object type `ty` (`report`, `deployment`).
    pub fn assert_valid_as(&self, value: &Value, ty: &str) {
        let mut errors = Vec::new();
        self.check(value, ty, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "the JSON {ty} does not match docs/report-json.md:\n{}",
            errors.join("\n")
        );
    }

    /// Check a session report.
    pub fn assert_valid(&self, report: &Value) {
        self.assert_valid_as(report, "report");
    }
}
