use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};
use chrono::{TimeDelta, Utc};
use entity::Role;
use proptest::prelude::*;
use uuid::Uuid;

use super::{MAX_CHECKS, inspect};
use crate::auth::rights;
use crate::auth::token::{self, Claims, Operation, Rejection};

/// A staff owner's token: the most authority facts any real token carries, so joins over
/// `right` are as large as they get.
fn minted(root: &KeyPair) -> Biscuit {
    let claims = Claims {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        business_id: Some(Uuid::now_v7()),
        role: Some(Role::Owner),
        rights: rights::for_role(Role::Owner).union(rights::STAFF),
        staff: true,
        impersonator: None,
        expires_at: Some(Utc::now() + TimeDelta::hours(1)),
    };
    let token = token::mint(root, &claims).expect("mints");
    Biscuit::from_base64(&token, root.public()).expect("parses")
}

fn appended(root: &KeyPair, code: &str) -> Biscuit {
    minted(root)
        .append(BlockBuilder::new().code(code).expect("valid datalog"))
        .expect("appends")
}

fn judged(code: &str) -> Result<u64, String> {
    let root = KeyPair::new();
    inspect(&appended(&root, code))
        .map(|(_, judged)| judged.work)
        .map_err(|refused| refused.reason.to_owned())
}

/// The issue's token: seven facts, a rule that joins them three ways, and a rule over that.
const THREE_WAY_JOIN: &str = "a(0); a(1); a(2); a(3); a(4); a(5); a(6);
    b($x, $y, $z) <- a($x), a($y), a($z);
    c(true) <- b($x0, $y0, $z0), b($x1, $y1, $z1), b($x2, $y2, $z2), $x0 + $x1 + $x2 == -1;";

#[test]
fn the_checks_the_documentation_shows_are_accepted() {
    for code in [
        r#"check if operation("me");"#,
        r#"check if metric("recordings"); check if time($t), $t < 2027-01-01T00:00:00Z;"#,
        r#"check if operation("me") or operation("business");"#,
        r#"check if operation($op), ["me", "business", "usage"].contains($op);"#,
        r#"check if right("usage:record"), business($b), $b.starts_with("01");"#,
        r#"check all operation($op), $op != "createApiKey";"#,
        r#"reject if staff(true);"#,
        r#"check if metric($m), $m.length() < 20 && !$m.ends_with("_test");"#,
        "check if true;",
    ] {
        assert!(judged(code).is_ok(), "{code}: {:?}", judged(code));
    }
}

#[test]
fn blocks_that_compute_are_refused() {
    for (code, reason) in [
        (THREE_WAY_JOIN, "appended blocks may hold checks only"),
        ("padding(\"xxxx\");", "appended blocks may hold checks only"),
        (
            r#"right("staff:read"); staff(true);"#,
            "appended blocks may hold checks only",
        ),
        (
            "allowed($o) <- operation($o); check if allowed(\"me\");",
            "appended blocks may hold checks only",
        ),
        (
            r#"check if operation($o), $o.matches("^(a+)+$");"#,
            "regular expressions are not accepted",
        ),
        (
            "check if time($t), [1, 2, 3].all($x -> $x > 0);",
            "closures over collections are not accepted",
        ),
        (
            "check if time($t), 1 + 2 == 3;",
            "arithmetic is not accepted",
        ),
        (
            "check if a(1);",
            "a check names a fact the server does not provide",
        ),
        (
            r#"check if operation("me", "extra");"#,
            "the server's facts have one term",
        ),
        (
            "check if right($a), right($b), right($c), right($d);",
            "the checks could cost too much to evaluate",
        ),
        (
            "check if right($a), right($b), right($c), right($d), right($e);",
            "too many predicates in a check",
        ),
        (
            r#"check if operation("me") trusting previous;"#,
            "scope annotations are not accepted",
        ),
        (
            &format!(
                "check if metric($m), [{}].contains($m);",
                (0..65)
                    .map(|i| format!("\"m{i}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "a literal collection is too large",
        ),
        (
            &"check if true;\n".repeat(MAX_CHECKS + 1),
            "too many checks",
        ),
    ] {
        assert_eq!(judged(code), Err(reason.to_owned()), "{code}");
    }
}

#[test]
fn a_refused_block_makes_the_token_invalid_before_any_datalog_runs() {
    let root = KeyPair::new();
    let token = appended(&root, THREE_WAY_JOIN)
        .to_base64()
        .expect("serializes");
    // `open` runs no authorizer, so this returns at once; evaluated, the join runs for
    // tens of seconds (bench/refusals.sh measures both sides).
    assert_eq!(
        token::open(root.public(), &token).err(),
        Some(Rejection::Invalid)
    );
    let me = [Operation::named("me")];
    assert_eq!(
        token::verify(root.public(), &token, &me, Utc::now()).err(),
        Some(Rejection::Invalid)
    );
}

#[test]
fn claims_are_read_from_the_authority_block_alone() {
    let root = KeyPair::new();
    let biscuit = minted(&root);
    let (authority, judged) = inspect(&biscuit).expect("our own token");
    assert_eq!(judged, super::Judged::default(), "no holder block");
    assert_eq!(authority.values("staff").collect::<Vec<_>>(), ["true"]);
    let token = biscuit.to_base64().expect("serializes");
    let (claims, _) = token::open(root.public(), &token).expect("opens");
    assert!(claims.staff);
    assert_eq!(claims.role, Some(Role::Owner));
    assert!(claims.rights.contains(rights::Right::StaffIntrospect));
}

/// One piece of a hostile block, as a holder might write it.
fn piece() -> impl Strategy<Value = String> {
    let predicate = prop::sample::select(vec![
        "right",
        "operation",
        "time",
        "user",
        "staff",
        "role",
        "a",
        "metric",
    ]);
    let variable = prop::sample::select(vec!["$x", "$y", "$z", "$w"]);
    prop_oneof![
        (0..50i64).prop_map(|n| format!("a({n});")),
        (predicate.clone(), variable.clone()).prop_map(|(p, v)| format!("check if {p}({v});")),
        prop::collection::vec((predicate.clone(), variable.clone()), 1..7).prop_map(|body| {
            let body: Vec<String> = body.iter().map(|(p, v)| format!("{p}({v})")).collect();
            format!("check if {};", body.join(", "))
        }),
        prop::collection::vec((predicate, variable.clone()), 1..5).prop_map(|body| {
            let body: Vec<String> = body.iter().map(|(p, v)| format!("{p}({v})")).collect();
            format!("derived($x) <- {}, $x == $x;", body.join(", "))
        }),
        (variable.clone(), 1..40usize).prop_map(|(v, n)| {
            let chain = vec![format!("{v} == {v}"); n].join(" && ");
            format!("check if operation({v}), {chain};")
        }),
        (variable, 1..20usize).prop_map(|(v, n)| format!(
            "check if operation({v}), {v}.matches(\"{}\");",
            "(a+)+".repeat(n)
        )),
        (1..80usize).prop_map(|n| {
            let set: Vec<String> = (0..n).map(|i| format!("\"m{i}\"")).collect();
            format!("check if metric($m), [{}].contains($m);", set.join(", "))
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever a holder appends, the token is refused when opened, or every authorization it
    /// then needs completes inside biscuit's own limits (which it would otherwise report as
    /// an authorization that did not complete, `Rejection::Invalid`).
    #[test]
    fn a_hostile_block_is_refused_or_cheap(pieces in prop::collection::vec(piece(), 1..12)) {
        let root = KeyPair::new();
        let code = pieces.join("\n");
        let Ok(block) = BlockBuilder::new().code(&code) else {
            return Ok(());
        };
        let token = minted(&root).append(block).expect("appends").to_base64().expect("b64");
        if token.len() > token::MAX_TOKEN_LEN {
            return Ok(());
        }
        let Ok((_, verified)) = token::open(root.public(), &token) else {
            return Ok(());
        };
        let (_, judged) = inspect(&Biscuit::from_base64(&token, root.public()).expect("parses"))
            .expect("accepted once, accepted again");
        prop_assert!(judged.work <= super::MAX_WORK);
        for operation in ["me", "business", "recordUsage"] {
            let operation = Operation::named(operation);
            let outcome = verified.authorize_all(std::slice::from_ref(&operation), Utc::now());
            prop_assert!(
                matches!(outcome, Ok(()) | Err(Rejection::NotAllowed(_))),
                "{code}: {outcome:?}"
            );
        }
    }
}

#[test]
fn what_the_checks_ask_of_the_request_is_known_from_their_predicates() {
    let root = KeyPair::new();
    let asks = |code: &str| inspect(&appended(&root, code)).expect("accepted").1.asks;
    assert_eq!(
        asks("check if time($t), $t > 2000-01-01T00:00:00Z;"),
        super::Asks::default()
    );
    assert_eq!(
        asks(r#"check if right("usage:record");"#),
        super::Asks::default()
    );
    let on_metric = asks(r#"check if metric("recordings");"#);
    assert!(on_metric.facts && !on_metric.operation);
    let on_operation = asks(r#"check if operation("me") or metric("m");"#);
    assert!(on_operation.facts && on_operation.operation);
}
