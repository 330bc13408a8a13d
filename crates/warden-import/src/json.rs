//! Reading JSON exports field by field, so that every refusal names its JSON path
//! (`$[3].owner.login`) instead of only a line and column.

use serde_json::Value;
use warden_core::Timestamp;

use crate::error::{ErrorContext, ImportError, Location, quote};
use crate::text::parse_time;

/// Parses one JSON document, or several written one after another (`gh api --paginate` and
/// shell loops over `aws iam list-access-keys` both do that).
pub(crate) fn parse_values(
    ctx: &ErrorContext<'_>,
    text: &str,
    fix: &str,
) -> Result<Vec<Value>, ImportError> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let value = value.map_err(|error| {
            ctx.error(
                Location::Line {
                    line: error.line() as u64,
                },
                None,
                format!("the file is not valid JSON: {}", syntax_problem(&error)),
                fix,
            )
        })?;
        values.push(value);
    }
    if values.is_empty() {
        return Err(ctx.error(Location::File, None, "the file is empty", fix));
    }
    Ok(values)
}

/// serde_json's message without the part that may quote the file's content.
fn syntax_problem(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Eof => "it ends in the middle of a value".to_string(),
        Category::Syntax => format!("syntax error at column {}", error.column()),
        Category::Data | Category::Io => format!("unexpected data at column {}", error.column()),
    }
}

/// A value and the path that reached it.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    pub ctx: &'a ErrorContext<'a>,
    pub value: &'a Value,
    pub path: String,
}

impl<'a> Node<'a> {
    pub fn root(ctx: &'a ErrorContext<'a>, value: &'a Value, path: String) -> Self {
        Self { ctx, value, path }
    }

    /// The items of a list, each with its path.
    pub fn items(&self, fix: &str) -> Result<Vec<Node<'a>>, ImportError> {
        Ok(self
            .array(fix)?
            .iter()
            .enumerate()
            .map(|(index, value)| Node {
                ctx: self.ctx,
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    /// A field that must be an object, as a node.
    pub fn child(&self, field: &str, fix: &str) -> Result<Option<Node<'a>>, ImportError> {
        Ok(self.object_field(field, fix)?.map(|value| Node {
            ctx: self.ctx,
            value,
            path: format!("{}.{field}", self.path),
        }))
    }

    /// A field's node whatever its type (for lists).
    pub fn field(&self, field: &str) -> Option<Node<'a>> {
        self.get(field).map(|value| Node {
            ctx: self.ctx,
            value,
            path: format!("{}.{field}", self.path),
        })
    }
    pub fn location(&self) -> Location {
        Location::JsonPath {
            path: self.path.to_string(),
        }
    }

    fn error(&self, field: &str, problem: impl Into<String>, fix: &str) -> ImportError {
        self.ctx.error(
            Location::JsonPath {
                path: format!("{}.{field}", self.path),
            },
            Some(field),
            problem,
            fix,
        )
    }

    pub fn array(&self, fix: &str) -> Result<&'a [Value], ImportError> {
        self.value.as_array().map(Vec::as_slice).ok_or_else(|| {
            self.ctx.error(
                self.location(),
                None,
                format!("expected a list, found {}", kind_of(self.value)),
                fix,
            )
        })
    }

    /// The field when present and not null.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.value.get(field).filter(|value| !value.is_null())
    }

    pub fn object_field(&self, field: &str, fix: &str) -> Result<Option<&'a Value>, ImportError> {
        match self.get(field) {
            None => Ok(None),
            Some(value) if value.is_object() => Ok(Some(value)),
            Some(value) => Err(self.error(
                field,
                format!("expected an object, found {}", kind_of(value)),
                fix,
            )),
        }
    }

    pub fn optional_str(&self, field: &str, fix: &str) -> Result<Option<&'a str>, ImportError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.as_str())),
            Some(value) => Err(self.error(
                field,
                format!("expected text, found {}", kind_of(value)),
                fix,
            )),
        }
    }

    pub fn required_str(&self, field: &str, fix: &str) -> Result<&'a str, ImportError> {
        match self.optional_str(field, fix)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(self.error(field, "the field is missing or empty", fix)),
        }
    }

    /// Text or a number, as ids are written by some APIs and not others.
    pub fn required_id(&self, field: &str, fix: &str) -> Result<String, ImportError> {
        match self.get(field) {
            Some(Value::Number(number)) if number.is_u64() => Ok(number.to_string()),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
            Some(value) => Err(self.error(
                field,
                format!("expected an id, found {}", kind_of(value)),
                fix,
            )),
            None => Err(self.error(field, "the field is missing", fix)),
        }
    }

    pub fn optional_bool(&self, field: &str, fix: &str) -> Result<Option<bool>, ImportError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(value) => Err(self.error(
                field,
                format!("expected true or false, found {}", kind_of(value)),
                fix,
            )),
        }
    }

    pub fn optional_time(&self, field: &str, fix: &str) -> Result<Option<Timestamp>, ImportError> {
        let Some(text) = self.optional_str(field, fix)? else {
            return Ok(None);
        };
        let location = Location::JsonPath {
            path: format!("{}.{field}", self.path),
        };
        parse_time(self.ctx, &location, field, text).map(Some)
    }

    pub fn text_value_error(
        &self,
        field: &str,
        value: &str,
        expected: &str,
        fix: &str,
    ) -> ImportError {
        self.error(field, format!("{} is not {expected}", quote(value)), fix)
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
