//! The stack as CloudFormation would create it from `template.yaml`: the SAM transform applied
//! (by the SAM translator that cfn-lint installs, so `make tools` brings it), then the
//! parameters given, their defaults for the rest, the conditions evaluated, and every resource
//! whose condition is false left out, every `Fn::If` decided and every `AWS::NoValue` dropped.
//! Tests then read the resources a deployment with those parameters would really have.

use std::collections::HashMap;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The SAM transform, without AWS: functions get a placeholder S3 location for their code
/// (`CodeUri: .` is what `sam build` replaces) and no managed policy needs an ARN lookup.
const TRANSFORM: &str = r#"
import json, os, sys
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/key"
class NoManagedPolicies:
    def load(self):
        return {}
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"#;

/// `template.yaml` after the SAM transform, conditions and parameters still open.
pub fn transformed() -> &'static Value {
    static TRANSFORMED: OnceLock<Value> = OnceLock::new();
    TRANSFORMED.get_or_init(|| {
        let path = crate::root().join("template.yaml");
        let output = Command::new("python3")
            .arg("-c")
            .arg(TRANSFORM)
            .arg(&path)
            .output()
            .expect("python3 runs (make tools installs cfn-lint, which brings the SAM translator)");
        assert!(
            output.status.success(),
            "the SAM transform failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the transform prints JSON")
    })
}

/// One deployment of the template.
#[derive(Debug, Clone)]
pub struct Stack {
    parameters: HashMap<String, String>,
    conditions: HashMap<String, bool>,
    resources: Map<String, Value>,
}

impl Stack {
    /// The stack these parameters create (the others at their defaults).
    pub fn deploy(parameters: &[(&str, &str)]) -> Stack {
        let template = transformed();
        let declared = template["Parameters"]
            .as_object()
            .expect("the template declares parameters");
        let mut values = HashMap::new();
        for (name, declaration) in declared {
            if let Some(default) = declaration.get("Default") {
                values.insert(name.clone(), scalar(default));
            }
        }
        for (name, value) in parameters {
            assert!(
                declared.contains_key(*name),
                "template.yaml has no parameter {name}"
            );
            values.insert((*name).to_owned(), (*value).to_owned());
        }
        let mut stack = Stack {
            parameters: values,
            conditions: HashMap::new(),
            resources: Map::new(),
        };
        let conditions = template["Conditions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in conditions.keys() {
            let truth = stack.condition(&conditions, name);
            stack.conditions.insert(name.clone(), truth);
        }
        for (name, resource) in template["Resources"].as_object().expect("resources") {
            let present = resource
                .get("Condition")
                .and_then(Value::as_str)
                .is_none_or(|condition| stack.conditions[condition]);
            if present && let Some(resolved) = stack.resolve(resource) {
                stack.resources.insert(name.clone(), resolved);
            }
        }
        stack
    }

    /// A resource by logical id, as deployed; `None` when its condition left it out.
    pub fn resource(&self, name: &str) -> Option<&Value> {
        self.resources.get(name)
    }

    /// Every resource of a type, by logical id.
    pub fn of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources
            .iter()
            .filter(|(_, resource)| resource["Type"] == kind)
            .map(|(name, resource)| (name.as_str(), resource))
            .collect()
    }

    /// Whether a condition of the template holds in this deployment.
    pub fn holds(&self, condition: &str) -> bool {
        self.conditions[condition]
    }

    /// The logical ids of the Lambda functions deployed.
    pub fn functions(&self) -> Vec<&str> {
        self.of_type("AWS::Lambda::Function")
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The alarms on `metric` whose dimensions name `{"Ref": target}` (or any, for `None`).
    pub fn alarms_on(&self, metric: &str, target: Option<&str>) -> Vec<&Value> {
        self.of_type("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, alarm)| alarm)
            .filter(|alarm| alarm["Properties"]["MetricName"] == metric)
            .filter(|alarm| match target {
                None => true,
                Some(target) => alarm["Properties"]["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|dimension| dimension["Value"]["Ref"] == target),
            })
            .collect()
    }

    fn condition(&self, conditions: &Map<String, Value>, name: &str) -> bool {
        let expression = conditions
            .get(name)
            .unwrap_or_else(|| panic!("no condition {name}"));
        self.truth(conditions, expression)
    }

    fn truth(&self, conditions: &Map<String, Value>, expression: &Value) -> bool {
        let (function, arguments) = single(expression).expect("a condition function");
        let list = || arguments.as_array().expect("a list of arguments");
        match function {
            "Fn::Equals" => {
                let [a, b] = list().as_slice() else {
                    panic!("Fn::Equals takes two values")
                };
                self.value(a) == self.value(b)
            }
            "Fn::Not" => !self.truth(conditions, &list()[0]),
            "Fn::And" => list().iter().all(|c| self.truth(conditions, c)),
            "Fn::Or" => list().iter().any(|c| self.truth(conditions, c)),
            "Condition" => self.condition(conditions, arguments.as_str().expect("a name")),
            other => panic!("unsupported condition function {other}"),
        }
    }

    fn value(&self, value: &Value) -> String {
        match single(value) {
            Some(("Ref", Value::String(name))) => self
                .parameters
                .get(name)
                .unwrap_or_else(|| panic!("no value for parameter {name}"))
                .clone(),
            _ => scalar(value),
        }
    }

    /// `value` with every `Fn::If` decided and parameter `Ref`s replaced by their values;
    /// `None` for `AWS::NoValue`.
    fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Object(object) => {
                if let Some(("Fn::If", Value::Array(arguments))) = single(value) {
                    let condition = arguments[0].as_str().expect("Fn::If names a condition");
                    let chosen = if self.conditions[condition] {
                        &arguments[1]
                    } else {
                        &arguments[2]
                    };
                    return self.resolve(chosen);
                }
                if let Some(("Ref", Value::String(name))) = single(value) {
                    if name == "AWS::NoValue" {
                        return None;
                    }
                    if let Some(parameter) = self.parameters.get(name) {
                        return Some(Value::String(parameter.clone()));
                    }
                }
                Some(Value::Object(
                    object
                        .iter()
                        .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
                        .collect(),
                ))
            }
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
}

fn single(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

/// The attributes `template.yaml` gives the dead-letter queue, as SQS `CreateQueue` takes them;
/// SQS's own default for what it leaves unset that a test depends on (`MaximumMessageSize`,
/// 256 KiB unless set).
pub fn dead_letter_queue_attributes() -> Vec<(aws_sdk_sqs::types::QueueAttributeName, String)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let stack = Stack::deploy(&[]);
    let properties = &stack
        .resource("DeadLetterQueue")
        .expect("the stack has a dead-letter queue")["Properties"];
    let mut attributes = Vec::new();
    for (property, attribute) in [
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
        ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "SqsManagedSseEnabled",
            QueueAttributeName::SqsManagedSseEnabled,
        ),
    ] {
        if let Some(value) = properties.get(property) {
            attributes.push((attribute, scalar(value)));
        }
    }
    if properties.get("MaximumMessageSize").is_none() {
        attributes.push((
            QueueAttributeName::MaximumMessageSize,
            SQS_DEFAULT_MAXIMUM_MESSAGE_SIZE.to_string(),
        ));
    }
    attributes
}

/// What SQS gives a queue created without `MaximumMessageSize` (moto's default is larger).
pub const SQS_DEFAULT_MAXIMUM_MESSAGE_SIZE: usize = 262_144;
