//! Token issue and validation: the work every authenticated request does
//! (validate) and every login does (issue, plus an argon2 password check).
//!
//! Run: `cargo bench -p nimbus-identity --bench tokens`

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use nimbus_identity::revocation::{RevocationEvent, RevocationList};
use nimbus_identity::token::{Named, Scope, TokenCodec, TokenPayload};

fn payload() -> TokenPayload {
    let named = |id: &str, name: &str| Named {
        id: id.into(),
        name: name.into(),
    };
    TokenPayload {
        user: named("6d1e1d8b1b7c4c3c9a3f1b2a3c4d5e6f", "admin"),
        user_domain: named("default", "Default"),
        methods: vec!["password".into()],
        scope: Scope::Project {
            project: named("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "admin"),
            domain: named("default", "Default"),
        },
        roles: vec![
            named("a1", "admin"),
            named("m1", "member"),
            named("r1", "reader"),
        ],
        issued_at: nimbus_db::now_micros(),
        expires_at: nimbus_db::now_micros() + 43_200_000_000,
        audit_ids: vec!["Zm9vYmFyYmF6cXV4".into()],
        app_cred: None,
    }
}

fn codec(revocations: RevocationList) -> TokenCodec {
    let keys: Vec<String> = (0..3).map(|_| fernet::Fernet::generate_key()).collect();
    TokenCodec::new(&keys, revocations).expect("valid keys")
}

fn benches(c: &mut Criterion) {
    let p = payload();
    let plain = codec(RevocationList::default());
    let token = plain.issue(&p);
    c.bench_function("token_issue", |b| b.iter(|| plain.issue(black_box(&p))));
    c.bench_function("token_validate", |b| {
        b.iter(|| plain.validate(black_box(&token)).expect("valid"))
    });
    // A busy revocation list: 1000 events, none matching.
    let events = (0..1000)
        .map(|i| RevocationEvent {
            audit_id: Some(format!("audit-{i}")),
            user_id: None,
            project_id: None,
            domain_id: None,
            app_cred_id: None,
            issued_before: i64::MAX,
            expires_at: i64::MAX,
        })
        .collect();
    let busy = codec(RevocationList::new(events));
    let token = busy.issue(&p);
    c.bench_function("token_validate_1000_revocations", |b| {
        b.iter(|| busy.validate(black_box(&token)).expect("valid"))
    });
    let hash = nimbus_identity::password::hash("correct horse").expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2_verify", |b| {
        b.iter(|| nimbus_identity::password::verify(black_box("correct horse"), Some(&hash)))
    });
    group.finish();
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
