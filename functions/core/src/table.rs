//! One DynamoDB table as the functions use it: a client built on first use (a cold start makes
//! no AWS call), calls cut off at the caller's deadline, conditional writes answered as
//! "done" or "someone else got there first", and every name and value in an expression behind
//! a placeholder. The dedup table, Slack's thread store and the gate's store are each a
//! [`Table`] plus what their items mean.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
pub use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::aws::sdk_reason;

/// An item as DynamoDB returns and takes it.
pub type Item = HashMap<String, AttributeValue>;

/// The table could not be used: no answer by the deadline, or an error other than a failed
/// condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DynamoDB {operation} failed: {reason}")]
pub struct TableError {
    pub operation: &'static str,
    pub reason: String,
}

/// A table named by the function's configuration.
pub struct Table {
    name: String,
    operation_timeout: Duration,
    config: Option<SdkConfig>,
    client: OnceCell<Client>,
}

impl Table {
    /// A table whose client takes its configuration from the environment when first used.
    /// One call, its one retry included, gives up after `operation_timeout`: a table that does
    /// not answer promptly counts as unreachable, and each user says what that means.
    pub fn new(name: String, operation_timeout: Duration) -> Self {
        Table {
            name,
            operation_timeout,
            config: None,
            client: OnceCell::new(),
        }
    }

    /// A table reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(name: String, operation_timeout: Duration, config: SdkConfig) -> Self {
        Table {
            config: Some(config),
            ..Table::new(name, operation_timeout)
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let sdk = crate::aws::sdk_config(self.config.as_ref()).await;
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(1).min(self.operation_timeout))
                    .operation_timeout(self.operation_timeout)
                    .build();
                let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .timeout_config(timeouts)
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(2)
                            .with_initial_backoff(Duration::from_millis(50)),
                    )
                    .build();
                Client::from_conf(config)
            })
            .await
    }

    /// The item whose partition key `key_name` is `key`, read consistently: a write a moment
    /// ago by another invocation must be seen.
    pub async fn get(
        &self,
        key_name: &str,
        key: &str,
        until: Instant,
    ) -> Result<Option<Item>, TableError> {
        let call = self
            .client()
            .await
            .get_item()
            .table_name(&self.name)
            .key(key_name, s(key))
            .consistent_read(true)
            .send();
        let output = bounded("GetItem", until, call)
            .await?
            .map_err(|err| failed("GetItem", &err))?;
        Ok(output.item)
    }

    /// Writes `item` whole if `condition` holds. `false`: it did not (someone else wrote first).
    pub async fn put(
        &self,
        item: Item,
        condition: Expression,
        until: Instant,
    ) -> Result<bool, TableError> {
        let call = self
            .client()
            .await
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(condition.text)
            .set_expression_attribute_names(condition.placeholders.names())
            .set_expression_attribute_values(condition.placeholders.values())
            .send();
        written("PutItem", bounded("PutItem", until, call).await?)
    }

    /// Applies `update` to the item `key_name` = `key` if `condition` holds. `false`: it did
    /// not. `operation` names the step in errors and logs.
    pub async fn update(
        &self,
        operation: &'static str,
        key_name: &str,
        key: &str,
        update: Update,
        condition: String,
        until: Instant,
    ) -> Result<bool, TableError> {
        let call = self
            .client()
            .await
            .update_item()
            .table_name(&self.name)
            .key(key_name, s(key))
            .update_expression(update.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(update.placeholders.names())
            .set_expression_attribute_values(update.placeholders.values())
            .send();
        written(operation, bounded(operation, until, call).await?)
    }

    /// Deletes the item `key_name` = `key` if `condition` holds. `false`: it did not.
    pub async fn delete(
        &self,
        key_name: &str,
        key: &str,
        condition: Expression,
        until: Instant,
    ) -> Result<bool, TableError> {
        let call = self
            .client()
            .await
            .delete_item()
            .table_name(&self.name)
            .key(key_name, s(key))
            .condition_expression(condition.text)
            .set_expression_attribute_names(condition.placeholders.names())
            .set_expression_attribute_values(condition.placeholders.values())
            .send();
        written("DeleteItem", bounded("DeleteItem", until, call).await?)
    }
}

/// Names and values behind placeholders: DynamoDB reserves hundreds of words, and attribute
/// names may hold `:` and `-`. DynamoDB also refuses placeholders an expression does not use,
/// so only what was asked for is sent.
#[derive(Debug, Default)]
pub struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    /// The placeholder of the attribute `name`.
    pub fn name(&mut self, name: &str) -> String {
        let placeholder = format!(
            "#{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    /// The placeholder of `value`.
    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `name = value`.
    pub fn equals(&mut self, name: &str, value: AttributeValue) -> String {
        format!("{} = {}", self.name(name), self.value(value))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// A condition for a whole-item write or a delete, with its placeholders.
#[derive(Debug, Default)]
pub struct Expression {
    pub placeholders: Placeholders,
    pub text: String,
}

impl Expression {
    /// A condition written with `build`, which is handed the placeholders to use.
    pub fn new(build: impl FnOnce(&mut Placeholders) -> String) -> Self {
        let mut placeholders = Placeholders::default();
        let text = build(&mut placeholders);
        Expression { placeholders, text }
    }
}

/// An UpdateItem expression; its condition shares its placeholders (`name`, `value`, `equals`).
#[derive(Debug, Default)]
pub struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    placeholders: Placeholders,
}

impl Update {
    pub fn name(&mut self, name: &str) -> String {
        self.placeholders.name(name)
    }

    pub fn value(&mut self, value: AttributeValue) -> String {
        self.placeholders.value(value)
    }

    pub fn equals(&mut self, name: &str, value: AttributeValue) -> String {
        self.placeholders.equals(name, value)
    }

    /// `SET name = value`.
    pub fn set(&mut self, name: &str, value: AttributeValue) {
        let clause = self.equals(name, value);
        self.set.push(clause);
    }

    /// A `SET` clause written with this update's placeholders (`list_append`, `if_not_exists`).
    pub fn set_expression(&mut self, clause: String) {
        self.set.push(clause);
    }

    /// `REMOVE name`.
    pub fn remove(&mut self, name: &str) {
        let name = self.name(name);
        self.remove.push(name);
    }

    pub fn expression(&self) -> String {
        let mut parts = Vec::with_capacity(2);
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }

    /// The attribute a placeholder stands for.
    pub fn named(&self, placeholder: &str) -> Option<&str> {
        self.placeholders.names.get(placeholder).map(String::as_str)
    }
}

/// A string attribute.
pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A number attribute.
pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The string attribute `name` of `item`.
pub fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The number attribute `name` of `item`, when it is a whole number.
pub fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

async fn bounded<F: std::future::Future>(
    operation: &'static str,
    until: Instant,
    call: F,
) -> Result<F::Output, TableError> {
    tokio::time::timeout_at(until, call)
        .await
        .map_err(|_| TableError {
            operation,
            reason: "no answer in time".to_owned(),
        })
}

/// A conditional write's answer: done, refused by its condition, or failed.
fn written<T, E, R>(
    operation: &'static str,
    answer: Result<T, SdkError<E, R>>,
) -> Result<bool, TableError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match answer {
        Ok(_) => Ok(true),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(err) => Err(failed(operation, &err)),
    }
}

fn failed<E, R>(operation: &'static str, err: &SdkError<E, R>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    TableError {
        operation,
        reason: sdk_reason(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_every_name_and_value_behind_a_placeholder() {
        let mut update = Update::default();
        update.set("approved:confirm-promotion", s("x"));
        update.remove("held");
        assert_eq!(
            update.expression(),
            "SET #approved_confirm_promotion = :v0 REMOVE #held"
        );
        assert_eq!(
            update.named("#approved_confirm_promotion"),
            Some("approved:confirm-promotion")
        );
    }

    #[test]
    fn sends_only_the_placeholders_an_expression_uses() {
        let condition = Expression::new(|p| format!("attribute_not_exists({})", p.name("id")));
        assert_eq!(condition.text, "attribute_not_exists(#id)");
        assert!(condition.placeholders.values().is_none());
        assert_eq!(
            condition.placeholders.names(),
            Some(HashMap::from([("#id".to_owned(), "id".to_owned())]))
        );
    }

    #[test]
    fn reads_attributes_of_the_type_asked_for() {
        let item = Item::from([
            ("state".to_owned(), s("parked")),
            ("status".to_owned(), n(502)),
        ]);
        assert_eq!(text(&item, "state"), Some("parked"));
        assert_eq!(number(&item, "status"), Some(502));
        assert_eq!(text(&item, "status"), None);
        assert_eq!(number(&item, "missing"), None);
    }
}
