//! A small builder for the few queries whose WHERE clause depends on the request (listing
//! filters). Values are always bound as parameters, never spliced into the text.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe};

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

#[derive(Debug, Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Where {
    /// Adds a condition; each `?` in `clause` becomes the next numbered placeholder.
    pub(crate) fn and(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        let mut text = String::with_capacity(clause.len() + 4);
        let mut values = values.into_iter();
        for piece in clause.split('?').enumerate() {
            let (index, piece) = piece;
            if index > 0 {
                if let Some(value) = values.next() {
                    self.values.push(value);
                }
                text.push('$');
                text.push_str(&self.values.len().to_string());
            }
            text.push_str(piece);
        }
        self.clauses.push(text);
    }

    pub(crate) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Builds the query. `sql` must have been assembled from constant fragments and this
    /// builder's own placeholders only.
    pub(crate) fn bind_into(self, sql: String) -> Query<'static, Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in self.values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
            };
        }
        query
    }
}

/// `count` placeholders for parameters `first..first + count`, comma-separated, for the long
/// statements (multi-row inserts, `IN` lists) whose size depends on the data.
///
/// SQLite gets anonymous `?`: sqlx binds a numbered placeholder by a linear search of the
/// statement's parameter names, which makes binding quadratic in the parameter count. A
/// statement built with this must use anonymous placeholders throughout on SQLite, bound in
/// order; PostgreSQL needs `$N`.
pub(crate) fn placeholders(dialect: super::Dialect, first: usize, count: usize) -> String {
    let mut text = String::with_capacity(count * 6);
    for n in 0..count {
        if n > 0 {
            text.push_str(", ");
        }
        match dialect {
            super::Dialect::Sqlite => text.push('?'),
            super::Dialect::Postgres => {
                text.push('$');
                text.push_str(&(first + n).to_string());
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_clauses() {
        let mut filter = Where::default();
        filter.and("a = ?", [Value::Int(1)]);
        filter.and("(b = ? OR c > ?)", [Value::Text("x".into()), Value::Int(2)]);
        assert_eq!(filter.sql(), " WHERE a = $1 AND (b = $2 OR c > $3)");
        assert_eq!(filter.values.len(), 3);
    }

    #[test]
    fn long_statements_use_anonymous_placeholders_on_sqlite_only() {
        use super::super::Dialect;
        assert_eq!(placeholders(Dialect::Sqlite, 3, 3), "?, ?, ?");
        assert_eq!(placeholders(Dialect::Postgres, 3, 3), "$3, $4, $5");
    }
}
