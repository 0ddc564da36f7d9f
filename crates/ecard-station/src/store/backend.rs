//! The two databases behind one tiny SQL interface, so the queue logic is written once.
//!
//! [`Tx`] runs a statement with [`Val`] parameters inside one open transaction; the SQLite and
//! PostgreSQL adapters below are the only code that knows a driver. SQL is written with `?1`, `?2`
//! placeholders (SQLite's own form) and rewritten to `$1`, `$2` for PostgreSQL. This module must
//! not hold queue rules: those live in `store/mod.rs`, shared by both.

use std::sync::Mutex;

use super::StoreError;

/// A column value: every column of the schema is a BIGINT, TEXT or NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Val::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        v.map_or(Val::Null, Val::Text)
    }
}
impl From<Option<&str>> for Val {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Val::Null, |s| Val::Text(s.to_string()))
    }
}

/// One open transaction.
pub(crate) trait Tx {
    /// Runs a statement; returns the rows it changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError>;
    /// Runs a query; returns every row as values in column order.
    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError>;
    /// Runs several statements without parameters (schema migrations).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// PostgreSQL needs explicit row locks where SQLite's single writer needs none.
    fn is_postgres(&self) -> bool;
    /// The vault that opens sealed personal data inside this transaction (store/sealed.rs).
    fn vault(&self) -> Option<&crate::vault::Vault> {
        None
    }
}

/// The database of one store.
pub(crate) enum Backend {
    // std Mutex, as mini-redis's db.rs argues: the lock is held only for one short transaction,
    // never across an `.await`, and every caller is already on a blocking thread.
    Sqlite(Mutex<rusqlite::Connection>),
    // A pool (store/pg.rs): each transaction takes a connection of its own.
    Postgres(Box<super::pg::PgPool>),
}

impl Backend {
    /// Runs `f` in one transaction, committed when it returns `Ok` (durably: SQLite runs WAL with
    /// `synchronous=FULL`, PostgreSQL's commit waits for its WAL flush), rolled back otherwise.
    pub(crate) fn with_tx<R>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            Backend::Sqlite(conn) => {
                // A panic elsewhere while this lock was held leaves it poisoned; the connection
                // itself is sound (that transaction rolled back as its guard unwound).
                let mut conn = conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // IMMEDIATE takes the write lock at BEGIN, so two writers never race on a read
                // they both intend to update (SQLite's equivalent of SELECT ... FOR UPDATE).
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(sqlite_err)?;
                let mut adapter = SqliteTx { tx: &tx };
                let out = f(&mut adapter)?;
                tx.commit().map_err(sqlite_err)?;
                Ok(out)
            }
            Backend::Postgres(pool) => {
                let mut conn = pool.checkout()?;
                // Released after the commit (or the rollback), declared first to drop last.
                let mut writing = None;
                let result = (|| {
                    let mut tx = conn.client()?.transaction().map_err(pg_err)?;
                    let mut adapter = PgTx {
                        tx: &mut tx,
                        gate: pool.write_gate(),
                        writing: &mut writing,
                    };
                    let out = f(&mut adapter)?;
                    tx.commit().map_err(pg_err)?;
                    Ok(out)
                })();
                if let Err(StoreError::Unreachable { .. }) = &result {
                    // Retire it (and its older siblings) instead of returning it to the pool.
                    pool.lost(&mut conn);
                }
                result
            }
        }
    }
}

pub(crate) fn sqlite_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database {
        store: "sqlite",
        reason: e.to_string(),
    }
}

pub(crate) fn pg_err(e: postgres::Error) -> StoreError {
    // The Display of a postgres::Error is "db error" alone; the server's message is in the source.
    let code = e.as_db_error().map(|db| db.code().code().to_string());
    let reason = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(&e) {
            // Some kinds (TLS) already print their cause.
            Some(src) if !e.to_string().contains(&src.to_string()) => format!("{e}: {src}"),
            _ => e.to_string(),
        },
    };
    // The connection is gone (closed, or the server shutting down or restarting: SQLSTATE
    // classes 08 and 57P): the client must be replaced, not reused.
    let lost = e.is_closed()
        || code
            .as_deref()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P"))
        || (code.is_none() && reason.contains("connection"));
    if lost {
        StoreError::Unreachable {
            store: "postgresql",
            reason,
        }
    } else {
        StoreError::Database {
            store: "postgresql",
            reason,
        }
    }
}

struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        let mut stmt = self.tx.prepare_cached(sql).map_err(sqlite_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(sqlite_err)?;
        Ok(n as u64)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError> {
        use rusqlite::types::ValueRef;
        let mut stmt = self.tx.prepare_cached(sql).map_err(sqlite_err)?;
        let n = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(sqlite_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_err)? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match row.get_ref(i).map_err(sqlite_err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(v) => Val::Int(v),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    other => {
                        return Err(StoreError::Corrupt {
                            what: format!(
                                "column {i} holds {:?}, expected integer or text",
                                other.data_type()
                            ),
                        });
                    }
                });
            }
            out.push(vals);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.tx.execute_batch(sql).map_err(sqlite_err)
    }

    fn is_postgres(&self) -> bool {
        false
    }
}

struct PgTx<'a, 'b, 'g> {
    tx: &'a mut postgres::Transaction<'b>,
    /// One writing transaction per daemon at a time (see [`super::pg::PgPool::write_gate`]).
    gate: &'g std::sync::Mutex<()>,
    /// Held from the first statement that may lock a row to the transaction's end.
    writing: &'a mut Option<std::sync::MutexGuard<'g, ()>>,
}

impl PgTx<'_, '_, '_> {
    /// Takes the write gate before `sql` runs, unless it is a plain read. A transaction waiting
    /// for the gate therefore holds no row lock, so the gate and the server's locks cannot wait
    /// on each other.
    fn gate_for(&mut self, sql: &str) {
        if self.writing.is_some() || is_plain_read(sql) {
            return;
        }
        // The gate guards nothing but order: a panic while it was held leaves nothing torn.
        *self.writing = Some(
            self.gate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
}

/// A SELECT that takes no lock: it may run beside writers.
fn is_plain_read(sql: &str) -> bool {
    let upper = sql.trim_start().to_ascii_uppercase();
    if upper.starts_with("SET TRANSACTION ISOLATION LEVEL") {
        // Names how this transaction reads; locks nothing.
        return true;
    }
    upper.starts_with("SELECT")
        && ![
            "FOR UPDATE",
            "FOR SHARE",
            "FOR NO KEY",
            "FOR KEY",
            "ADVISORY",
            "NEXTVAL",
        ]
        .iter()
        .any(|w| upper.contains(w))
}

/// `?12` → `$12`: the schema's SQL has no `?` anywhere else.
fn pg_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Val::Int(i) => i.to_sql(ty, out),
            Val::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [Type::INT4, Type::INT8, Type::TEXT, Type::VARCHAR].contains(ty)
    }

    postgres::types::to_sql_checked!();
}

impl Tx for PgTx<'_, '_, '_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, StoreError> {
        self.gate_for(sql);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as _).collect();
        self.tx.execute(&pg_sql(sql), &refs).map_err(pg_err)
    }

    fn rows(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>, StoreError> {
        use postgres::types::Type;
        self.gate_for(sql);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p as _).collect();
        let rows = self.tx.query(&pg_sql(sql), &refs).map_err(pg_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut vals = Vec::with_capacity(row.len());
            for (i, col) in row.columns().iter().enumerate() {
                let ty = col.type_();
                let v = if *ty == Type::INT8 {
                    row.try_get::<_, Option<i64>>(i)
                        .map_err(pg_err)?
                        .map(Val::Int)
                } else if *ty == Type::INT4 {
                    row.try_get::<_, Option<i32>>(i)
                        .map_err(pg_err)?
                        .map(|v| Val::Int(v.into()))
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                    row.try_get::<_, Option<String>>(i)
                        .map_err(pg_err)?
                        .map(Val::Text)
                } else {
                    return Err(StoreError::Corrupt {
                        what: format!(
                            "column {} has type {ty}, expected bigint or text",
                            col.name()
                        ),
                    });
                };
                vals.push(v.unwrap_or(Val::Null));
            }
            out.push(vals);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        self.gate_for(sql);
        self.tx.batch_execute(sql).map_err(pg_err)
    }

    fn is_postgres(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::is_plain_read;

    #[test]
    fn only_lock_free_selects_pass_the_write_gate() {
        assert!(is_plain_read("SELECT id FROM jobs WHERE state = ?1"));
        assert!(is_plain_read("  select 1"));
        for locking in [
            "SELECT seq, hash FROM audit_chains WHERE chain = ?1 FOR UPDATE",
            "SELECT id FROM jobs WHERE state = 'validated' LIMIT 1 FOR UPDATE SKIP LOCKED",
            "SELECT * FROM lanes FOR NO KEY UPDATE",
            "SELECT pg_advisory_xact_lock(4712)",
            "UPDATE series SET next = next + 1 WHERE series = ?1 RETURNING next",
            "INSERT INTO audit (seq) VALUES (?1)",
            "WITH x AS (DELETE FROM cans RETURNING job_id) SELECT COUNT(*) FROM x",
        ] {
            assert!(!is_plain_read(locking), "{locking}");
        }
    }
}
