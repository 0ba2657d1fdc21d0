//! SQL, and only SQL: one file per resource. Statements use `$n`
//! placeholders and the types that mean the same on SQLite and PostgreSQL
//! (see `nimbus-db`).

pub mod images;
pub mod members;
pub mod metadefs;
pub mod tasks;

/// A value bound into a dynamically built statement.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    Int(i64),
}

/// A statement under construction with its bind values in order.
#[derive(Debug, Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    /// Appends `arg` and returns its placeholder.
    fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// The statement with its arguments bound. The text is built only from
    /// fixed fragments and placeholders, never from input, hence safe.
    fn query(
        &self,
    ) -> sqlx::query::Query<'static, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.clone()));
        for arg in &self.args {
            q = match arg {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(n) => q.bind(*n),
            };
        }
        q
    }
}
