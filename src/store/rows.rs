//! Multi-row statements: many rows of one table written by one statement instead of one
//! statement per row, so a group commit costs a handful of round trips to the database
//! whatever its size.
//!
//! On SQLite a table's rows go as one JSONB array of rows, bound as one value:
//! `INSERT … SELECT value ->> 0, value ->> 1 FROM jsonb_each(?)`. Its text is the same
//! whatever the row count, so a batch's statements are parsed once per connection and kept
//! prepared (parsing each batch's `VALUES (…), (…)` text was a sixth of the writer's work). On
//! PostgreSQL a statement's rows fill a power of two of slots, the rest `NULL` (filtered out of
//! an insert, matching nothing in a read), so its texts are few and stay in sqlx's statement
//! cache (without it, a text for each batch size churned the cache: measured side by side,
//! about a tenth fewer messages a second); one statement binds up to `MAX_VALUES` values.
//!
//! Past 700 lines because a third of it is the tests of the JSONB encoding, written byte by
//! byte, which belong beside the encoder.

use sqlx::{Any, Transaction};

use super::error::StoreError;
use super::sql::Backend;

/// The most values one statement binds (both backends allow far more).
const MAX_VALUES: usize = 8_000;

/// One value of a row.
#[derive(Debug, Clone)]
pub(super) enum Param {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    /// A `NULL` of `BIGINT`: a slot left empty in a column of numbers.
    NoInt,
    /// Bytes: on SQLite, a table's rows as JSONB (see `jsonb_rows`).
    Blob(Vec<u8>),
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

    /// Writes the rows inside `tx`, in the order they were pushed: the statements of
    /// `Script::rows`, run as a script.
    pub(super) async fn insert(self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let mut script = Script::new(backend_of(tx));
        script.rows(self);
        script.run(tx).await
    }

    /// Rows per statement.
    fn chunk(&self) -> usize {
        (MAX_VALUES / self.columns).max(1)
    }
}

/// Statements run in the order added. On SQLite they go to the connection as one query, so a
/// group commit's inserts cost one round trip to the connection's thread, not one each: under
/// load each round trip can wait for a core. On PostgreSQL (whose prepared statements hold one
/// statement each) they are made one statement: `WITH` queries for writes (`Script::run`), a
/// `UNION ALL` for reads (`Script::fetch`).
#[derive(Debug)]
pub(super) struct Script {
    backend: Backend,
    statements: Vec<(String, Vec<Param>)>,
}

impl Script {
    pub(super) fn new(backend: Backend) -> Self {
        Script {
            backend,
            statements: Vec::new(),
        }
    }

    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Adds the statements that write `rows` (none when it has none).
    pub(super) fn rows(&mut self, rows: Rows) {
        if rows.values.is_empty() {
            return;
        }
        let bytes = rows.values.iter().any(|v| matches!(v, Param::Blob(_)));
        match self.backend {
            // JSONB holds no bytes: rows with some go as `VALUES`.
            Backend::Sqlite if bytes => self.values_rows(rows),
            Backend::Sqlite => {
                let rows_jsonb = jsonb_rows(&rows.values, rows.columns);
                self.statements.push((
                    jsonb_each_statement(rows.head, rows.columns, rows.tail),
                    vec![Param::Blob(rows_jsonb)],
                ));
            }
            Backend::Postgres => self.values_rows(rows),
        }
    }

    /// `rows` as `VALUES` lists of up to `MAX_VALUES` values, on PostgreSQL padded to a power
    /// of two of slots: an insert's padding filtered out (see `padded_insert`), a read's rows
    /// of `NULL`s matching nothing. A connection then sees a handful of texts, kept prepared.
    fn values_rows(&mut self, rows: Rows) {
        let chunk = rows.chunk();
        let mut remaining = rows.len();
        // An insert's padding is told from the rows by a first value that is `NULL`: rows that
        // have one (none of the gateway's do) go unpadded, so no row can be taken for padding.
        // A read's padding rows (`IN (VALUES …)`) are all `NULL`, and match nothing.
        let insert = rows.head.starts_with("INSERT");
        let padded = self.backend == Backend::Postgres
            && (!insert
                || !rows
                    .values
                    .iter()
                    .step_by(rows.columns.max(1))
                    .any(|v| matches!(v, Param::MaybeText(None) | Param::NoInt)));
        let mut values = rows.values.into_iter();
        while remaining > 0 {
            let size = chunk.min(remaining);
            let mut taken: Vec<Param> = values.by_ref().take(size * rows.columns).collect();
            let sql = if padded {
                let slots = size.next_power_of_two().min(chunk);
                // Each column's empty slots typed as its values, which `VALUES` needs.
                let empty: Vec<Param> = taken[..rows.columns]
                    .iter()
                    .map(|value| match value {
                        Param::Int(_) | Param::NoInt => Param::NoInt,
                        // The gateway binds bytes on SQLite only.
                        Param::Text(_) | Param::MaybeText(_) | Param::Blob(_) => {
                            Param::MaybeText(None)
                        }
                    })
                    .collect();
                for _ in size..slots {
                    taken.extend(empty.iter().cloned());
                }
                if insert {
                    padded_insert(rows.head, rows.columns, slots, rows.tail)
                } else {
                    statement(self.backend, rows.head, rows.columns, slots, rows.tail)
                }
            } else {
                statement(self.backend, rows.head, rows.columns, size, rows.tail)
            };
            self.statements.push((sql, taken));
            remaining -= size;
        }
    }

    /// Adds one statement written with `?` placeholders (numbered `$1`, `$2`, … on
    /// PostgreSQL). On SQLite only anonymous placeholders bind in a query of several
    /// statements.
    pub(super) fn statement(&mut self, sql: &str, values: Vec<Param>) {
        let sql = match self.backend {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => {
                let mut numbered = String::with_capacity(sql.len() + 8);
                let mut placeholders = Placeholders::new(Backend::Postgres);
                for (i, piece) in sql.split('?').enumerate() {
                    if i > 0 {
                        numbered.push_str(&placeholders.next());
                    }
                    numbered.push_str(piece);
                }
                numbered
            }
        };
        self.statements.push((sql, values));
    }

    /// Runs every statement added inside `tx` and answers the rows they return; empties the
    /// script. On SQLite the statements go as one query, and their rows come in order. On
    /// PostgreSQL several statements go as one `UNION ALL` (one round trip, one snapshot):
    /// they must then be `SELECT`s whose columns agree in number and type, and their rows come
    /// in no particular order.
    pub(super) async fn fetch(
        &mut self,
        tx: &mut Transaction<'_, Any>,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let statements = std::mem::take(&mut self.statements);
        let values: usize = statements.iter().map(|(_, v)| v.len()).sum();
        let mut found = Vec::new();
        match self.backend {
            Backend::Sqlite => {
                // Kept prepared: every text is constant (see `Script::rows`).
                let (sql, values) = joined(statements);
                found = bound(sql, values.into_iter())
                    .persistent(true)
                    .fetch_all(&mut **tx)
                    .await?;
            }
            Backend::Postgres if statements.len() > 1 && values <= POSTGRES_MAX_VALUES => {
                let (sql, values) = union(statements);
                found = bound(sql, values.into_iter())
                    .persistent(true)
                    .fetch_all(&mut **tx)
                    .await?;
            }
            Backend::Postgres => {
                for (sql, values) in statements {
                    found.extend(
                        bound(sql, values.into_iter())
                            .persistent(true)
                            .fetch_all(&mut **tx)
                            .await?,
                    );
                }
            }
        }
        Ok(found)
    }

    /// Runs every statement added inside `tx`, and empties the script. On PostgreSQL the
    /// statements become one, each but the last a data-modifying `WITH` query: one round trip
    /// for all of them.
    pub(super) async fn run(&mut self, tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
        let statements = std::mem::take(&mut self.statements);
        let values: usize = statements.iter().map(|(_, v)| v.len()).sum();
        match self.backend {
            Backend::Sqlite => {
                let (sql, values) = joined(statements);
                bound(sql, values.into_iter())
                    .persistent(true)
                    .execute(&mut **tx)
                    .await?;
            }
            Backend::Postgres if statements.len() > 1 && values <= POSTGRES_MAX_VALUES => {
                let (sql, values) = with_queries(statements);
                bound(sql, values.into_iter())
                    .persistent(true)
                    .execute(&mut **tx)
                    .await?;
            }
            Backend::Postgres => {
                for (sql, values) in statements {
                    bound(sql, values.into_iter())
                        .persistent(true)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// The most values one PostgreSQL statement may bind (its protocol counts them in 16 bits).
const POSTGRES_MAX_VALUES: usize = 65_535;

/// PostgreSQL statements (each numbering its placeholders from `$1`) as one:
/// `WITH q1 AS (…), q2 AS (…) last`, the placeholders numbered through, and the values in
/// order. The statements see one snapshot, so none may read what another writes (here they
/// only insert, and update the audit head); foreign keys are checked at the end, on all of
/// them.
fn with_queries(statements: Vec<(String, Vec<Param>)>) -> (String, Vec<Param>) {
    let (texts, values) = numbered_through(statements);
    let count = texts.len();
    let mut sql = String::from("WITH ");
    for (i, text) in texts.iter().enumerate() {
        if i + 1 == count {
            sql.push(' ');
            sql.push_str(text);
        } else {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("q{i} AS ({text})"));
        }
    }
    (sql, values)
}

/// PostgreSQL queries (each numbering its placeholders from `$1`) as one:
/// `(q1) UNION ALL (q2) …`, the placeholders numbered through, and the values in order.
fn union(statements: Vec<(String, Vec<Param>)>) -> (String, Vec<Param>) {
    let (texts, values) = numbered_through(statements);
    let parts: Vec<String> = texts.iter().map(|text| format!("({text})")).collect();
    (parts.join(" UNION ALL "), values)
}

/// The statements' texts with their placeholders numbered on from the statements before, and
/// all their values in order.
fn numbered_through(statements: Vec<(String, Vec<Param>)>) -> (Vec<String>, Vec<Param>) {
    let mut texts = Vec::with_capacity(statements.len());
    let mut all = Vec::new();
    for (text, values) in statements {
        texts.push(renumbered(&text, all.len()));
        all.extend(values);
    }
    (texts, all)
}

/// `text` with each placeholder `$n` made `$(n + offset)`.
fn renumbered(text: &str, offset: usize) -> String {
    if offset == 0 {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// SQLite's statement for rows given as one JSONB array of rows (see `jsonb_rows`):
/// `{head} SELECT value ->> 0, value ->> 1 FROM jsonb_each(?) WHERE true {tail}`.
/// `jsonb_each` gives the rows in the array's order, each a JSONB array itself. The `WHERE`
/// tells SQLite's parser that an `ON CONFLICT` tail is an upsert's, not a join's; `head` may
/// also be a read's `… WHERE (a, b) IN (` with `)` for `tail`.
fn jsonb_each_statement(head: &str, columns: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + columns * 16 + 48);
    sql.push_str(head);
    sql.push_str(" SELECT ");
    for column in 0..columns {
        if column > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("value ->> {column}"));
    }
    sql.push_str(" FROM jsonb_each(?) WHERE true");
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// `values`, `columns` to a row, as one SQLite JSONB array of arrays (its binary JSON, whose
/// format SQLite documents as stable): texts as raw text, numbers as integers, `NULL` as
/// `null`. SQLite reads it as it is, without parsing a text or undoing escapes, and `->>`
/// gives each value back as the SQL value it was (a text with every character, `NUL`
/// included; an integer of 64 bits).
fn jsonb_rows(values: &[Param], columns: usize) -> Vec<u8> {
    let columns = columns.max(1);
    // Each row's payload size first: an element's header carries its payload's size.
    let rows: Vec<usize> = values
        .chunks(columns)
        .map(|row| row.iter().map(jsonb_size).sum())
        .collect();
    let payload: usize = rows
        .iter()
        .map(|&size| jsonb_header_size(size) + size)
        .sum();
    let mut out = Vec::with_capacity(jsonb_header_size(payload) + payload);
    jsonb_header(&mut out, JSONB_ARRAY, payload);
    for (row, size) in values.chunks(columns).zip(rows) {
        jsonb_header(&mut out, JSONB_ARRAY, size);
        for value in row {
            match value {
                Param::Text(text) | Param::MaybeText(Some(text)) => {
                    jsonb_header(&mut out, JSONB_TEXTRAW, text.len());
                    out.extend_from_slice(text.as_bytes());
                }
                // Never here: `Script::rows` writes rows with bytes as `VALUES`.
                Param::MaybeText(None) | Param::NoInt | Param::Blob(_) => out.push(JSONB_NULL),
                Param::Int(n) => {
                    use std::io::Write;
                    jsonb_header(&mut out, JSONB_INT, decimal_digits(*n));
                    // Writing to a vector cannot fail.
                    let _ = write!(out, "{n}");
                }
            }
        }
    }
    out
}

/// JSONB's element types (the low four bits of an element's first byte).
const JSONB_NULL: u8 = 0;
const JSONB_INT: u8 = 3;
const JSONB_TEXTRAW: u8 = 10;
const JSONB_ARRAY: u8 = 11;

/// The bytes one value takes in JSONB, header included.
fn jsonb_size(value: &Param) -> usize {
    let payload = match value {
        Param::Text(text) | Param::MaybeText(Some(text)) => text.len(),
        Param::MaybeText(None) | Param::NoInt | Param::Blob(_) => return 1,
        Param::Int(n) => decimal_digits(*n),
    };
    jsonb_header_size(payload) + payload
}

/// The characters of `n` in decimal, its sign included.
fn decimal_digits(n: i64) -> usize {
    let sign = usize::from(n < 0);
    let mut magnitude = n.unsigned_abs();
    let mut digits = 1;
    while magnitude >= 10 {
        magnitude /= 10;
        digits += 1;
    }
    sign + digits
}

/// An element's header: its type, and its payload's size in the first byte's high four bits
/// (up to 11) or in the 1, 2, 4 or 8 big-endian bytes after it.
fn jsonb_header(out: &mut Vec<u8>, kind: u8, size: usize) {
    match size {
        0..=11 => out.push((size as u8) << 4 | kind),
        12..=0xff => out.extend_from_slice(&[0xc0 | kind, size as u8]),
        0x100..=0xffff => {
            out.push(0xd0 | kind);
            out.extend_from_slice(&(size as u16).to_be_bytes());
        }
        _ if size <= u32::MAX as usize => {
            out.push(0xe0 | kind);
            out.extend_from_slice(&(size as u32).to_be_bytes());
        }
        _ => {
            out.push(0xf0 | kind);
            out.extend_from_slice(&(size as u64).to_be_bytes());
        }
    }
}

fn jsonb_header_size(size: usize) -> usize {
    match size {
        0..=11 => 1,
        12..=0xff => 2,
        0x100..=0xffff => 3,
        _ if size <= u32::MAX as usize => 5,
        _ => 9,
    }
}

/// SQLite statements as one query text, and their values in order.
fn joined(statements: Vec<(String, Vec<Param>)>) -> (String, Vec<Param>) {
    let mut sql = String::new();
    let mut all = Vec::new();
    for (text, values) in statements {
        sql.push_str(&text);
        sql.push_str(";\n");
        all.extend(values);
    }
    (sql, all)
}

/// Placeholders in order: `$1`, `$2`, … on PostgreSQL, `?` on SQLite.
pub(super) struct Placeholders {
    backend: Backend,
    n: usize,
}

impl Placeholders {
    pub(super) fn new(backend: Backend) -> Self {
        Placeholders { backend, n: 0 }
    }

    pub(super) fn next(&mut self) -> String {
        self.n += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${}", self.n),
        }
    }
}

/// A plan as `EXPLAIN` (PostgreSQL) or `EXPLAIN QUERY PLAN` (SQLite, its detail last) gives
/// it, one line per row: for the store's tests of plans.
pub(super) fn plan_text(rows: &[sqlx::any::AnyRow]) -> Result<String, StoreError> {
    use sqlx::Row;
    let lines = rows
        .iter()
        .map(|row| row.try_get::<String, _>(row.columns().len().saturating_sub(1)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join("\n"))
}

/// The backend a transaction runs on.
pub(super) fn backend_of(tx: &Transaction<'_, Any>) -> Backend {
    if tx.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// The statement (or statements, on SQLite) with its values bound in order.
fn bound(
    sql: String,
    values: impl Iterator<Item = Param>,
) -> sqlx::query::Query<'static, Any, sqlx::any::AnyArguments> {
    // The text is made only of the constant head and tail and numbered placeholders.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    for value in values {
        query = match value {
            Param::Text(text) => query.bind(text),
            Param::MaybeText(text) => query.bind(text),
            Param::Int(n) => query.bind(n),
            Param::NoInt => query.bind(None::<i64>),
            Param::Blob(bytes) => query.bind(bytes),
        };
    }
    query
}

/// PostgreSQL's insert of up to `slots` rows, `{head} SELECT * FROM (VALUES ($1, $2), ($3, $4))
/// AS v (c0, c1) WHERE c0 IS NOT NULL {tail}`: the rows' values, then `NULL`s for the slots
/// left (a row's first value is never `NULL`). With `slots` a power of two, a connection sees
/// a handful of texts, each parsed and planned once and kept prepared, where a text for each
/// row count was parsed, analysed and planned again at every batch.
fn padded_insert(head: &str, columns: usize, slots: usize, tail: &str) -> String {
    let values = statement(Backend::Postgres, "", columns, slots, "");
    let names: Vec<String> = (0..columns).map(|c| format!("c{c}")).collect();
    let mut sql = format!(
        "{head} SELECT * FROM ({}) AS v ({}) WHERE c0 IS NOT NULL",
        values.trim_start(),
        names.join(", ")
    );
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// `{head} VALUES ($1, $2), ($3, $4) {tail}` for `rows` rows of `columns` placeholders (`?`
/// on SQLite).
fn statement(backend: Backend, head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6 + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut placeholders = Placeholders::new(backend);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&placeholders.next());
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
    fn numbers_placeholders_across_rows_on_postgres_and_leaves_them_anonymous_on_sqlite() {
        assert_eq!(
            statement(
                Backend::Postgres,
                "INSERT INTO t (a, b)",
                2,
                3,
                "ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            statement(Backend::Sqlite, "INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }

    #[test]
    fn postgres_inserts_fill_a_power_of_two_of_slots_with_typed_nulls() {
        let rows_of = |count: i64| {
            let mut rows = Rows::new("INSERT INTO t (a, b)", 2, "ON CONFLICT DO NOTHING");
            for n in 0..count {
                rows.push([Param::Int(n), Param::from(format!("r{n}"))]);
            }
            rows
        };
        let mut script = Script::new(Backend::Postgres);
        script.rows(rows_of(3));
        script.rows(rows_of(4));
        script.rows(rows_of(1));
        let (three, values) = &script.statements[0];
        assert_eq!(
            three,
            "INSERT INTO t (a, b) SELECT * FROM (VALUES ($1, $2), ($3, $4), ($5, $6), ($7, $8)) \
             AS v (c0, c1) WHERE c0 IS NOT NULL ON CONFLICT DO NOTHING"
        );
        assert!(matches!(values[4], Param::Int(2)));
        assert!(matches!(values[6], Param::NoInt));
        assert!(matches!(values[7], Param::MaybeText(None)));
        assert_eq!(&script.statements[1].0, three, "four rows: the same text");
        assert_eq!(script.statements[1].1.len(), 8);
        assert!(script.statements[2].0.contains("(VALUES ($1, $2)) AS v"));
        // Rows whose first value is NULL, reads and SQLite are not padded.
        let mut nulls = Rows::new("INSERT INTO t (a, b)", 2, "");
        nulls.push([Param::MaybeText(None), Param::Int(1)]);
        nulls.push([Param::from("x"), Param::Int(2)]);
        nulls.push([Param::from("y"), Param::Int(3)]);
        script.rows(nulls);
        assert_eq!(
            script.statements[3].0,
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6)"
        );
        let mut sqlite = Script::new(Backend::Sqlite);
        sqlite.rows(rows_of(3));
        sqlite.rows(rows_of(0));
        assert_eq!(sqlite.statements.len(), 1, "no statement for no rows");
        assert_eq!(
            sqlite.statements[0].0,
            "INSERT INTO t (a, b) SELECT value ->> 0, value ->> 1 FROM jsonb_each(?) \
             WHERE true ON CONFLICT DO NOTHING"
        );
        assert!(matches!(&sqlite.statements[0].1[..], [Param::Blob(_)]));
        // JSONB holds no bytes: rows with some go as `VALUES`.
        let mut bytes = Rows::new("INSERT INTO t (a, b)", 2, "");
        bytes.push([Param::Int(1), Param::Blob(vec![0, 1])]);
        sqlite.rows(bytes);
        assert_eq!(sqlite.statements[1].0, "INSERT INTO t (a, b) VALUES (?, ?)");
        assert_eq!(sqlite.statements[1].1.len(), 2);
    }

    #[test]
    fn jsonb_headers_carry_the_payload_size_in_as_few_bytes_as_fit() {
        let header = |size| {
            let mut out = Vec::new();
            jsonb_header(&mut out, JSONB_TEXTRAW, size);
            assert_eq!(out.len(), jsonb_header_size(size), "size {size}");
            out
        };
        assert_eq!(header(0), [0x0a]);
        assert_eq!(header(11), [0xba]);
        assert_eq!(header(12), [0xca, 12]);
        assert_eq!(header(255), [0xca, 0xff]);
        assert_eq!(header(256), [0xda, 0x01, 0x00]);
        assert_eq!(header(65_536), [0xea, 0, 1, 0, 0]);
        for n in [0, 9, 10, -1, -10, i64::MAX, i64::MIN] {
            assert_eq!(decimal_digits(n), n.to_string().len(), "{n}");
        }
        let rows = jsonb_rows(
            &[Param::Int(5), Param::from("ab"), Param::MaybeText(None)],
            3,
        );
        assert_eq!(rows, [0x7b, 0x6b, 0x13, b'5', 0x2a, b'a', b'b', 0x00]);
    }

    /// An in-memory SQLite database on a connection of its own.
    async fn memory_sqlite() -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite")
    }

    /// SQLite reads the JSONB as the JSON it stands for.
    #[tokio::test]
    async fn sqlite_reads_the_rows_jsonb_as_the_json_it_stands_for() {
        use sqlx::Row;
        let mut conn = memory_sqlite().await;
        let values = [
            Param::from("a\"quote\" \\ back\nline\u{1}"),
            Param::MaybeText(None),
            Param::Int(i64::MIN),
            Param::MaybeText(None),
            Param::from("åäö 😀"),
            Param::Int(7),
        ];
        let row = sqlx::query("SELECT json(?), json_valid(?, 8)")
            .bind(jsonb_rows(&values, 3))
            .bind(jsonb_rows(&values, 3))
            .fetch_one(&mut conn)
            .await
            .expect("json()");
        assert_eq!(
            row.get::<String, _>(0),
            r#"[["a\"quote\" \\ back\nline\u0001",null,-9223372036854775808],[null,"åäö 😀",7]]"#
        );
        assert_eq!(row.get::<i64, _>(1), 1, "strictly valid JSONB");
        let big = jsonb_rows(&[Param::from("x".repeat(70_000))], 1);
        let row = sqlx::query("SELECT length(? ->> '$[0][0]'), json_valid(?, 8)")
            .bind(big.clone())
            .bind(big)
            .fetch_one(&mut conn)
            .await
            .expect("a long text");
        assert_eq!((row.get::<i64, _>(0), row.get::<i64, _>(1)), (70_000, 1));
    }

    /// The statement SQLite runs gives back every value as it was bound, in order, with an
    /// upsert's tail and as a read's `IN` list.
    #[tokio::test]
    async fn sqlite_writes_and_reads_rows_through_jsonb_each_unchanged() {
        use sqlx::{Connection, Row};
        let mut conn = memory_sqlite().await;
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, note TEXT)")
            .execute(&mut conn)
            .await
            .expect("table");
        let texts = [
            "plain".to_owned(),
            "quote \" and \\ and\ttab\r\n".to_owned(),
            "nul \u{0} inside and \u{1f} control".to_owned(),
            "åäö ÅÄÖ é 😀 \u{2028}".to_owned(),
            "x".repeat(100_000),
        ];
        let mut rows = Rows::new("INSERT INTO t (id, n, note)", 3, "");
        for (i, text) in texts.iter().enumerate() {
            rows.push([
                Param::from(format!("id{i}")),
                if i == 1 {
                    Param::MaybeText(None)
                } else if i == 3 {
                    Param::Int(i64::MIN)
                } else {
                    Param::Int(i64::MAX - i as i64)
                },
                if i == 2 {
                    Param::MaybeText(None)
                } else {
                    Param::from(text.as_str())
                },
            ]);
        }
        let mut tx = conn.begin().await.expect("begin");
        rows.insert(&mut tx).await.expect("insert");
        let mut upsert = Rows::new(
            "INSERT INTO t (id, n, note)",
            3,
            "ON CONFLICT (id) DO UPDATE SET n = excluded.n",
        );
        upsert.push([Param::from("id0"), Param::Int(-1), Param::from("ignored")]);
        upsert.push([
            Param::from("id9"),
            Param::Int(9),
            Param::from(texts[2].as_str()),
        ]);
        let mut script = Script::new(Backend::Sqlite);
        script.rows(upsert);
        script.run(&mut tx).await.expect("upsert");
        let mut wanted = Rows::new("SELECT id, n, note FROM t WHERE (id, n) IN (", 2, ")");
        wanted.push([Param::from("id0"), Param::Int(-1)]);
        wanted.push([Param::from("id1"), Param::MaybeText(None)]);
        wanted.push([Param::from("id9"), Param::Int(9)]);
        script.rows(wanted);
        let found = script.fetch(&mut tx).await.expect("read");
        tx.commit().await.expect("commit");
        let ids: Vec<String> = found.iter().map(|r| r.get::<String, _>(0)).collect();
        assert_eq!(ids.len(), 2, "a NULL never equals: {ids:?}");
        assert!(ids.contains(&"id0".to_owned()) && ids.contains(&"id9".to_owned()));
        let stored = sqlx::query("SELECT id, n, note FROM t ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("select");
        assert_eq!(stored.len(), 6);
        for (i, row) in stored.iter().take(5).enumerate() {
            assert_eq!(row.get::<String, _>(0), format!("id{i}"));
            let n: Option<i64> = row.get(1);
            let note: Option<String> = row.get(2);
            match i {
                0 => assert_eq!((n, note.as_deref()), (Some(-1), Some("plain"))),
                1 => assert_eq!((n, note.as_deref()), (None, Some(texts[1].as_str()))),
                2 => assert_eq!((n, note), (Some(i64::MAX - 2), None)),
                3 => assert_eq!(
                    (n, note.as_deref()),
                    (Some(i64::MIN), Some(texts[3].as_str()))
                ),
                _ => assert_eq!(
                    (n, note.as_deref()),
                    (Some(i64::MAX - i as i64), Some(texts[i].as_str()))
                ),
            }
        }
        let nine: Option<String> = stored[5].get(2);
        assert_eq!(nine.as_deref(), Some(texts[2].as_str()), "a NUL survives");
    }

    #[test]
    fn a_script_numbers_each_statement_from_one_on_postgres() {
        let mut script = Script::new(Backend::Postgres);
        script.statement(
            "UPDATE t SET a = ? WHERE id = ?",
            vec![Param::Int(1), Param::Int(2)],
        );
        let mut rows = Rows::new("INSERT INTO t (a)", 1, "");
        rows.push([Param::Int(3)]);
        rows.push([Param::Int(4)]);
        script.rows(rows);
        script.rows(Rows::new("INSERT INTO u (b)", 1, ""));
        let texts: Vec<&str> = script
            .statements
            .iter()
            .map(|(sql, _)| sql.as_str())
            .collect();
        assert_eq!(
            texts,
            [
                "UPDATE t SET a = $1 WHERE id = $2",
                "INSERT INTO t (a) SELECT * FROM (VALUES ($1), ($2)) AS v (c0) WHERE c0 IS NOT NULL"
            ]
        );
        let mut sqlite = Script::new(Backend::Sqlite);
        sqlite.statement("UPDATE t SET a = ? WHERE id = ?", vec![]);
        assert_eq!(sqlite.statements[0].0, "UPDATE t SET a = ? WHERE id = ?");
    }

    #[test]
    fn postgres_statements_become_one_with_queries_numbered_through() {
        let statements = vec![
            (
                "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)".to_owned(),
                vec![Param::Int(1), Param::Int(2), Param::Int(3), Param::Int(4)],
            ),
            (
                "INSERT INTO u (c) VALUES ($1) ON CONFLICT DO NOTHING".to_owned(),
                vec![Param::Int(5)],
            ),
            (
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1".to_owned(),
                vec![Param::Int(6), Param::Int(7)],
            ),
        ];
        let (sql, values) = with_queries(statements);
        assert_eq!(
            sql,
            "WITH q0 AS (INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)), \
             q1 AS (INSERT INTO u (c) VALUES ($5) ON CONFLICT DO NOTHING) \
             UPDATE audit_head SET seq = $6, hash = $7 WHERE id = 1"
        );
        assert_eq!(values.len(), 7);
        assert_eq!(renumbered("$9 $10, $1", 10), "$19 $20, $11");
    }

    #[test]
    fn postgres_queries_become_one_union_numbered_through() {
        let statements = vec![
            (
                "SELECT 1, a FROM t WHERE a IN ($1, $2)".to_owned(),
                vec![Param::Int(1), Param::Int(2)],
            ),
            ("SELECT 2, b FROM u".to_owned(), vec![]),
            (
                "SELECT 3, c FROM v WHERE c = $1".to_owned(),
                vec![Param::Int(3)],
            ),
        ];
        let (sql, values) = union(statements);
        assert_eq!(
            sql,
            "(SELECT 1, a FROM t WHERE a IN ($1, $2)) UNION ALL (SELECT 2, b FROM u) \
             UNION ALL (SELECT 3, c FROM v WHERE c = $3)"
        );
        assert_eq!(values.len(), 3);
    }

    #[test]
    fn a_statement_binds_at_most_the_limit() {
        let rows = Rows::new("INSERT INTO t (a, b, c)", 3, "");
        assert_eq!(rows.chunk(), 2_666);
        assert!(rows.chunk() * 3 <= MAX_VALUES);
    }
}
