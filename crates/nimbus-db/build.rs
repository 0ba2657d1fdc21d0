// `sqlx::migrate!` embeds the migration files at compile time, but cargo
// does not know about them: without this, a new migration file is only
// picked up when something else in the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
