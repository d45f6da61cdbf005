//! CloudWatch Embedded Metric Format, checked as its specification states it: the document
//! CloudWatch Logs would extract metrics from, or every reason it would not.

use std::collections::BTreeMap;

use serde_json::Value;

/// Units CloudWatch accepts for a metric (`StandardUnit`).
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A log event larger than this is truncated by CloudWatch Logs, and its metrics lost.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Every way `line` is not an EMF document; empty when it is one.
pub fn violations(line: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if line.len() > MAX_EVENT_BYTES {
        problems.push(format!("{} bytes, over the log event limit", line.len()));
    }
    if line.contains('\n') {
        problems.push("spans several lines; CloudWatch reads one log event per line".into());
    }
    match serde_json::from_str::<Value>(line) {
        Ok(document) => check_document(&document, &mut problems),
        Err(err) => problems.push(format!("not JSON: {err}")),
    }
    problems
}

/// Panics naming every violation.
pub fn assert_valid(line: &str) -> Value {
    let problems = violations(line);
    assert!(
        problems.is_empty(),
        "not a valid EMF document:\n  {}\n{line}",
        problems.join("\n  ")
    );
    serde_json::from_str(line).expect("checked above")
}

fn check_document(document: &Value, problems: &mut Vec<String>) {
    let Some(root) = document.as_object() else {
        problems.push("the root is not an object".into());
        return;
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        problems.push("no `_aws` object".into());
        return;
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n)) if n.as_u64().is_some() => {
            // Milliseconds since the epoch: a value in seconds would be in 1970.
            if n.as_u64().is_some_and(|ms| ms < 1_000_000_000_000) {
                problems.push(format!("_aws.Timestamp {n} is not in milliseconds"));
            }
        }
        other => problems.push(format!(
            "_aws.Timestamp must be a whole number of milliseconds, is {other:?}"
        )),
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        problems.push("_aws.CloudWatchMetrics is not an array".into());
        return;
    };
    if directives.is_empty() {
        problems.push("_aws.CloudWatchMetrics is empty: no metric would be extracted".into());
    }
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("_aws.CloudWatchMetrics[{i}]");
        check_directive(root, directive, &at, problems);
    }
}

fn check_directive(
    root: &serde_json::Map<String, Value>,
    directive: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    match directive.get("Namespace").and_then(Value::as_str) {
        Some(ns) if (1..=255).contains(&ns.len()) => {}
        other => problems.push(format!(
            "{at}.Namespace must be 1-255 characters: {other:?}"
        )),
    }
    match directive.get("Dimensions").and_then(Value::as_array) {
        None => problems.push(format!("{at}.Dimensions is not an array")),
        Some(sets) => {
            for (j, set) in sets.iter().enumerate() {
                let Some(keys) = set.as_array() else {
                    problems.push(format!("{at}.Dimensions[{j}] is not an array"));
                    continue;
                };
                if keys.len() > 30 {
                    problems.push(format!("{at}.Dimensions[{j}] has over 30 keys"));
                }
                for key in keys {
                    let Some(key) = key.as_str() else {
                        problems.push(format!("{at}.Dimensions[{j}] holds a non-string {key}"));
                        continue;
                    };
                    match root.get(key).and_then(Value::as_str) {
                        Some(value) if dimension_value_ok(value) => {}
                        other => problems.push(format!(
                            "dimension {key} must be a top-level string of 1-1024 ASCII characters, is {other:?}"
                        )),
                    }
                }
            }
        }
    }
    let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
        problems.push(format!("{at}.Metrics is not an array"));
        return;
    };
    if metrics.len() > 100 {
        problems.push(format!(
            "{at}.Metrics has {} metrics, over 100",
            metrics.len()
        ));
    }
    let mut seen = Vec::new();
    for (j, metric) in metrics.iter().enumerate() {
        let Some(name) = metric.get("Name").and_then(Value::as_str) else {
            problems.push(format!("{at}.Metrics[{j}].Name is not a string"));
            continue;
        };
        if !(1..=1024).contains(&name.len()) {
            problems.push(format!("metric name {name:?} must be 1-1024 characters"));
        }
        if seen.contains(&name) {
            problems.push(format!("metric {name} is declared twice"));
        }
        seen.push(name);
        if let Some(unit) = metric.get("Unit")
            && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
        {
            problems.push(format!(
                "metric {name} has unit {unit}, not a CloudWatch unit"
            ));
        }
        if let Some(resolution) = metric.get("StorageResolution")
            && resolution != 1
            && resolution != 60
        {
            problems.push(format!("metric {name}: StorageResolution must be 1 or 60"));
        }
        match root.get(name) {
            Some(Value::Number(_)) => {}
            Some(Value::Array(values))
                if values.len() <= 100 && values.iter().all(Value::is_number) => {}
            other => problems.push(format!(
                "metric {name} must be a top-level number (or up to 100 numbers), is {other:?}"
            )),
        }
    }
}

fn dimension_value_ok(value: &str) -> bool {
    (1..=1024).contains(&value.len())
        && value.is_ascii()
        && !value.chars().any(|c| c.is_ascii_control())
        && !value.trim().is_empty()
}

/// A metric as CloudWatch stores it: namespace, name, and dimension name/value pairs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MetricIdentity {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

/// The metrics CloudWatch extracts from a valid document: one per metric and dimension set.
pub fn identities(document: &Value) -> Vec<MetricIdentity> {
    let mut found = Vec::new();
    let directives = document["_aws"]["CloudWatchMetrics"].as_array();
    for directive in directives.into_iter().flatten() {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        let sets = directive["Dimensions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let metrics = directive["Metrics"].as_array().cloned().unwrap_or_default();
        for set in &sets {
            let dimensions: BTreeMap<String, String> = set
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|key| {
                    let value = document[key].as_str().unwrap_or_default();
                    (key.to_owned(), value.to_owned())
                })
                .collect();
            for metric in &metrics {
                found.push(MetricIdentity {
                    namespace: namespace.to_owned(),
                    name: metric["Name"].as_str().unwrap_or_default().to_owned(),
                    dimensions: dimensions.clone(),
                });
            }
        }
    }
    found
}

/// The EMF documents among `output`'s lines (those with an `_aws` member), each checked
/// against the specification.
pub fn documents(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.trim_start().starts_with('{') && line.contains("\"_aws\""))
        .map(assert_valid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"_aws":{"Timestamp":1764000300959,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["F"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"F":"slack","M":1}"#;

    #[test]
    fn accepts_a_document_by_the_book() {
        assert_eq!(violations(GOOD), Vec::<String>::new());
    }

    #[test]
    fn finds_what_the_specification_forbids() {
        for (bad, expected) in [
            (GOOD.replace("1764000300959", "1764000300"), "milliseconds"),
            (GOOD.replace("1764000300959", "\"now\""), "Timestamp"),
            (GOOD.replace(r#","M":1"#, ""), "metric M must be"),
            (GOOD.replace(r#""M":1"#, r#""M":"1""#), "metric M must be"),
            (
                GOOD.replace("\"Count\"", "\"Counts\""),
                "not a CloudWatch unit",
            ),
            (GOOD.replace(r#""F":"slack""#, r#""F":7"#), "dimension F"),
            (GOOD.replace(r#""F":"slack""#, r#""F":"""#), "dimension F"),
            (GOOD.replace("\"_aws\"", "\"aws\""), "_aws"),
            (GOOD.replace(r#""Namespace":"N","#, ""), "Namespace"),
            (GOOD.replace(r#"[["F"]]"#, "[\"F\"]"), "not an array"),
        ] {
            let found = violations(&bad);
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "{bad}: expected {expected:?}, found {found:?}"
            );
        }
        let many: Vec<String> = (0..31).map(|i| format!("\"F{i}\"")).collect();
        let wide = GOOD.replace(r#"[["F"]]"#, &format!("[[{}]]", many.join(",")));
        assert!(violations(&wide).iter().any(|p| p.contains("over 30")));
        let defs: Vec<String> = (0..101).map(|i| format!(r#"{{"Name":"M{i}"}}"#)).collect();
        let crowded = GOOD.replace(
            r#"[{"Name":"M","Unit":"Count"}]"#,
            &format!("[{}]", defs.join(",")),
        );
        assert!(violations(&crowded).iter().any(|p| p.contains("over 100")));
    }
}
