use biscuit_auth::macros::block;
use chrono::TimeDelta;

use super::*;
use crate::auth::rights;

fn claims(expires_at: Option<DateTime<Utc>>) -> Claims {
    Claims {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        business_id: Some(Uuid::now_v7()),
        role: Some(Role::Owner),
        rights: rights::for_role(Role::Owner),
        staff: false,
        impersonator: None,
        expires_at,
    }
}

fn ops(names: &[&str]) -> Vec<Operation> {
    names.iter().map(|n| Operation::named(n)).collect()
}

#[test]
fn a_minted_token_verifies_to_its_claims() {
    let root = KeyPair::new();
    let now = Utc::now();
    let claims = claims(Some(now + TimeDelta::hours(1)));
    let token = mint(&root, &claims).expect("mints");
    let (read, _) = verify(root.public(), &token, &ops(&["me"]), now).expect("verifies");
    assert_eq!(
        read,
        Claims {
            expires_at: None,
            ..claims
        }
    );
}

#[test]
fn an_expired_token_is_rejected_as_expired() {
    let root = KeyPair::new();
    let now = Utc::now();
    let token = mint(&root, &claims(Some(now - TimeDelta::seconds(1)))).expect("mints");
    let err = verify(root.public(), &token, &ops(&["me"]), now).expect_err("expired");
    assert_eq!(err, Rejection::Expired);
}

#[test]
fn a_token_from_another_key_or_tampered_is_invalid() {
    let root = KeyPair::new();
    let now = Utc::now();
    let token = mint(&KeyPair::new(), &claims(None)).expect("mints");
    let err = verify(root.public(), &token, &ops(&["me"]), now).expect_err("foreign");
    assert_eq!(err, Rejection::Invalid);

    let token = mint(&root, &claims(None)).expect("mints");
    let mut bytes = token.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("ascii");
    let err = verify(root.public(), &tampered, &ops(&["me"]), now).expect_err("tampered");
    assert_eq!(err, Rejection::Invalid);
}

#[test]
fn an_attenuated_token_is_held_to_its_checks_and_cannot_add_rights() {
    let root = KeyPair::new();
    let now = Utc::now();
    let token = mint(&root, &claims(None)).expect("mints");
    let biscuit = Biscuit::from_base64(&token, root.public()).expect("parses");
    let narrowed = biscuit
        .append(block!(r#"check if operation("me");"#))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    let (claims, _) = verify(root.public(), &narrowed, &ops(&["me"]), now).expect("me");
    assert!(!claims.rights.contains(Right::StaffRead));
    assert!(!claims.staff);
    let granting = biscuit
        .append(block!(r#"right("staff:read"); staff(true);"#))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    let err = verify(root.public(), &granting, &ops(&["me"]), now).expect_err("facts");
    assert_eq!(
        err,
        Rejection::Invalid,
        "appended facts are refused, not read"
    );
    let err =
        verify(root.public(), &narrowed, &ops(&["me", "business"]), now).expect_err("only me");
    assert_eq!(err, Rejection::NotAllowed("business".into()));
}

#[test]
fn minted_tokens_leave_room_for_attenuation() {
    let root = KeyPair::new();
    let now = Utc::now();
    // The largest token this server mints: a staff owner of a business, with an impersonator
    // and an expiry (no real token carries all of these at once).
    let largest = Claims {
        rights: rights::for_role(Role::Owner).union(rights::STAFF),
        staff: true,
        impersonator: Some(Uuid::now_v7()),
        ..claims(Some(now + TimeDelta::hours(24)))
    };
    let token = mint(&root, &largest).expect("mints");
    assert!(token.len() * 3 < MAX_TOKEN_LEN, "{} bytes", token.len());

    let mut attenuated = Biscuit::from_base64(&token, root.public()).expect("parses");
    for _ in 1..MAX_BLOCKS {
        attenuated = attenuated
            .append(block!(
                r#"check if operation("me"); check if time($t), $t < 2100-01-01T00:00:00Z;"#
            ))
            .expect("attenuates");
    }
    let token = attenuated.to_base64().expect("serializes");
    assert!(token.len() <= MAX_TOKEN_LEN, "{} bytes", token.len());
    verify(root.public(), &token, &ops(&["me"]), now).expect("the most blocks allowed verify");
}

#[test]
fn a_token_with_too_many_blocks_or_bytes_is_invalid() {
    let root = KeyPair::new();
    let now = Utc::now();
    let token = mint(&root, &claims(None)).expect("mints");
    let mut attenuated = Biscuit::from_base64(&token, root.public()).expect("parses");
    for _ in 0..MAX_BLOCKS {
        attenuated = attenuated
            .append(block!("check if true;"))
            .expect("attenuates");
    }
    let too_many = attenuated.to_base64().expect("serializes");
    let err = verify(root.public(), &too_many, &ops(&["me"]), now).expect_err("9 blocks");
    assert_eq!(err, Rejection::Invalid);

    let padding = "x".repeat(MAX_TOKEN_LEN);
    let too_long = Biscuit::from_base64(&token, root.public())
        .expect("parses")
        .append(block!("padding({padding});"))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    let err = verify(root.public(), &too_long, &ops(&["me"]), now).expect_err("too long");
    assert_eq!(err, Rejection::Invalid);
}
