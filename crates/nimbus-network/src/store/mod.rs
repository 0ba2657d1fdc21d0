//! SQL, and only SQL: one file per resource. Statements use `$n`
//! placeholders and the types that mean the same on SQLite and PostgreSQL
//! (see `nimbus-db`).

pub mod floatingips;
pub mod instance_ports;
pub mod networks;
pub mod ports;
pub mod quotas;
pub mod routers;
pub mod security_groups;
pub mod subnets;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::NetError;

/// A flag as stored.
fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// A stored flag.
fn get_flag(row: &AnyRow, col: &str) -> Result<bool, NetError> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// A stored JSON list.
fn get_json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, NetError> {
    let text: String = row.try_get(col)?;
    Ok(serde_json::from_str(&text)?)
}

/// A statement with `WHERE` conditions built from fixed fragments and
/// placeholders only (never from input), and its text arguments in order.
#[derive(Debug, Default)]
struct Filter {
    conditions: Vec<String>,
    args: Vec<String>,
}

impl Filter {
    /// Adds `column = $n` (column names are constants of the store).
    fn eq(&mut self, column: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.args.push(v.to_string());
            self.conditions
                .push(format!("{column} = ${}", self.args.len()));
        }
    }

    /// Adds a fixed condition using the next placeholder for `value`.
    fn raw(&mut self, condition_with_placeholder: &str, value: &str) {
        self.args.push(value.to_string());
        self.conditions
            .push(condition_with_placeholder.replace("$?", &format!("${}", self.args.len())));
    }

    fn clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in &self.args {
            q = q.bind(a.clone());
        }
        q
    }
}
