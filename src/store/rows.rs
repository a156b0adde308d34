//! Multi-row statements: many rows of one table written by a few `INSERT … VALUES (…), (…)`
//! statements instead of one statement per row, so a group commit costs a handful of round
//! trips to the database whatever its size.
//!
//! Rows are sent in chunks of fixed sizes (64, 16, 4 and 1 rows), so each table has at most
//! four statement texts and every one of them stays prepared in the connection's cache.

use sqlx::{Any, Transaction};

use super::error::StoreError;

/// The chunk sizes, largest first.
const CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// One value of a row.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl From<Option<String>> for Param {
    fn from(value: Option<String>) -> Self {
        Param::MaybeText(value)
    }
}

impl From<Option<&str>> for Param {
    fn from(value: Option<&str>) -> Self {
        Param::MaybeText(value.map(str::to_owned))
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

/// Rows for one statement shape: `{head} VALUES (…), … {tail}`, each row `columns` values.
#[derive(Debug)]
pub(super) struct Rows {
    head: &'static str,
    tail: &'static str,
    columns: usize,
    values: Vec<Param>,
}

impl Rows {
    /// `head` is `INSERT INTO table (col, …)`; `tail` follows the values (e.g. an
    /// `ON CONFLICT` clause) and may be empty.
    pub(super) fn new(head: &'static str, columns: usize, tail: &'static str) -> Self {
        Rows {
            head,
            tail,
            columns,
            values: Vec::new(),
        }
    }

    /// Adds one row; it must have exactly the statement's number of columns.
    pub(super) fn push<const N: usize>(&mut self, row: [Param; N]) {
        debug_assert_eq!(N, self.columns, "{}: wrong number of values", self.head);
        self.values.extend(row);
    }

    pub(super) fn len(&self) -> usize {
        self.values.len() / self.columns
    }

    /// Writes the rows inside `tx`, in the order they were pushed.
    pub(super) async fn insert(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let mut remaining = self.len();
        let mut values = self.values.into_iter();
        while remaining > 0 {
            let size = chunk(remaining);
            let query = bound(statement(self.head, self.columns, size, self.tail), {
                values.by_ref().take(size * self.columns)
            });
            query.execute(&mut **tx).await?;
            remaining -= size;
        }
        Ok(())
    }
}

impl Rows {
    /// Runs the statement as a query over the rows (e.g. `… WHERE (a, b) IN (` with tail `)`)
    /// and answers every row it returns.
    pub(super) async fn fetch(
        self,
        tx: &mut Transaction<'_, Any>,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let mut found = Vec::new();
        let mut remaining = self.len();
        let mut values = self.values.into_iter();
        while remaining > 0 {
            let size = chunk(remaining);
            let query = bound(statement(self.head, self.columns, size, self.tail), {
                values.by_ref().take(size * self.columns)
            });
            found.extend(query.fetch_all(&mut **tx).await?);
            remaining -= size;
        }
        Ok(found)
    }
}

/// The largest chunk size not above `remaining`.
fn chunk(remaining: usize) -> usize {
    CHUNKS
        .iter()
        .copied()
        .find(|&c| c <= remaining)
        .unwrap_or(1)
}

/// The statement with its values bound in order.
fn bound(
    sql: String,
    values: impl Iterator<Item = Param>,
) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
    // The text is made only of the constant head and tail and numbered placeholders.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in values {
        query = match value {
            Param::Text(text) => query.bind(text),
            Param::MaybeText(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
        };
    }
    query
}

/// `{head} VALUES ($1, $2), ($3, $4) {tail}` for `rows` rows of `columns` placeholders.
fn statement(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6 + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_across_rows() {
        assert_eq!(
            statement("INSERT INTO t (a, b)", 2, 3, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            statement("INSERT INTO t (a)", 1, 1, ""),
            "INSERT INTO t (a) VALUES ($1)"
        );
    }

    #[test]
    fn chunks_cover_every_count_with_few_statements() {
        for total in 0..300usize {
            let mut remaining = total;
            let mut statements = 0;
            while remaining > 0 {
                let size = chunk(remaining);
                remaining -= size;
                statements += 1;
            }
            assert!(
                statements <= total / 64 + 9,
                "{total} rows took {statements}"
            );
        }
    }
}
