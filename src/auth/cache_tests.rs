use biscuit_auth::KeyPair;
use entity::Role;

use super::*;
use crate::auth::rights;
use crate::auth::token::{self, Operation};

struct Minted {
    token: String,
    claims: Claims,
    verified: VerifiedToken,
}

fn mint(root: &KeyPair, impersonator: Option<Uuid>, now: DateTime<Utc>) -> Minted {
    let claims = Claims {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        business_id: Some(Uuid::now_v7()),
        role: Some(Role::Owner),
        rights: rights::for_role(Role::Owner),
        staff: false,
        impersonator,
        expires_at: None,
    };
    let token = token::mint(root, &claims).expect("mints");
    let (claims, verified) =
        token::verify(root.public(), &token, &[Operation::named("me")], now).expect("verifies");
    Minted {
        token,
        claims,
        verified,
    }
}

fn put(cache: &TokenCache, ticket: Ticket, minted: &Minted, now: DateTime<Utc>) {
    let entry = Cached::checked(
        minted.claims.clone(),
        minted.verified.clone(),
        SessionKind::Login,
        None,
        now,
    );
    let _ = cache.put(ticket, &minted.token, entry);
}

#[test]
fn a_session_read_before_it_was_forgotten_never_enters_the_cache() {
    let root = KeyPair::new();
    let now = Utc::now();
    let minted = mint(&root, None, now);
    type Forget = fn(&TokenCache, &Claims);
    let forgets: [Forget; 3] = [
        |cache, claims| cache.forget_session(claims.session_id),
        |cache, claims| cache.forget_user(claims.user_id),
        |cache, claims| cache.forget_business(claims.business_id.expect("a business")),
    ];
    for forget in forgets {
        let cache = TokenCache::default();
        // A request takes its ticket and reads the session row: still alive…
        let ticket = cache.ticket();
        // …then the session is revoked and forgotten on this node…
        forget(&cache, &minted.claims);
        // …and only then does the request remember what it read.
        put(&cache, ticket, &minted, now);
        assert!(cache.get(&minted.token, now).is_none());
    }
}

#[test]
fn a_session_read_after_a_forget_is_remembered() {
    let root = KeyPair::new();
    let now = Utc::now();
    let minted = mint(&root, None, now);
    let cache = TokenCache::default();
    cache.forget_session(Uuid::now_v7());
    put(&cache, cache.ticket(), &minted, now);
    assert!(cache.get(&minted.token, now).is_some());
}

#[test]
fn an_entry_is_trusted_for_less_than_the_ttl_of_the_given_clock() {
    let root = KeyPair::new();
    let now = Utc::now();
    let minted = mint(&root, None, now);
    let cache = TokenCache::default();
    put(&cache, cache.ticket(), &minted, now);
    let almost = now + TTL - TimeDelta::milliseconds(1);
    assert!(cache.get(&minted.token, almost).is_some());
    assert!(cache.get(&minted.token, now + TTL).is_none());
    assert!(
        cache
            .get(&minted.token, now - TimeDelta::seconds(1))
            .is_none()
    );
}

#[test]
fn forgetting_a_user_forgets_the_impersonation_tokens_they_opened() {
    let root = KeyPair::new();
    let now = Utc::now();
    let staff = Uuid::now_v7();
    let impersonation = mint(&root, Some(staff), now);
    let other = mint(&root, None, now);
    let cache = TokenCache::default();
    put(&cache, cache.ticket(), &impersonation, now);
    put(&cache, cache.ticket(), &other, now);
    cache.forget_user(staff);
    assert!(cache.get(&impersonation.token, now).is_none());
    assert!(cache.get(&other.token, now).is_some());
}

#[test]
fn the_cache_never_weighs_more_than_its_bound() {
    let root = KeyPair::new();
    let now = Utc::now();
    let bound = 64 * u64::from(ENTRY_OVERHEAD);
    let cache = TokenCache::with_max_weight(bound);
    let minted = mint(&root, None, now);
    let biscuit = biscuit_auth::Biscuit::from_base64(&minted.token, root.public()).expect("parses");
    // Distinct valid tokens, as anyone can mint offline by appending blocks.
    for n in 0..500 {
        let token = biscuit
            .append(biscuit_auth::macros::block!("n({n});"))
            .expect("attenuates")
            .to_base64()
            .expect("serializes");
        let copy = Minted {
            token,
            claims: minted.claims.clone(),
            verified: minted.verified.clone(),
        };
        put(&cache, cache.ticket(), &copy, now);
    }
    let weight = cache.weight();
    assert!(weight <= bound, "{weight} > {bound}");
    assert!(weight > 0);
}
