//! What a hostile token costs saaskit to refuse or accept: each token of a family of hostile
//! appended blocks (every one at most the 4 KiB token limit) is opened and authorized the way
//! a request is — signature, the shape of the appended blocks, the claims, then the authorizer
//! for one root field and for 256 (a `recordUsages` of 256 metrics) — on this thread, in
//! process, with no HTTP or database around it.
//!
//! For each token it prints the largest thread CPU time of its runs and the most heap it held
//! at once beyond what it held before. Beside them, "evaluated" runs biscuit's own authorizer
//! on the same token with saaskit's limits, as saaskit did before it judged blocks first: the
//! cost the shape rule avoids. The issue's three-way join is evaluated on a smaller world
//! (`a(0..4)`), since its full size runs for tens of seconds.
//!
//! `cargo run --release --example token_costs` (bench/refusals.sh runs it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use biscuit_auth::{AuthorizerLimits, Biscuit, BlockBuilder, KeyPair};
use chrono::{TimeDelta, Utc};
use entity::Role;
use saaskit::auth::rights;
use saaskit::auth::token::{self, Claims, MAX_TOKEN_LEN, Operation};
use uuid::Uuid;

/// The system allocator, counting the bytes held and the most held since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(held, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// This thread's CPU time so far (Linux: the first field of schedstat, in nanoseconds).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The largest CPU time and extra heap of `runs` calls of `work`, and its last outcome.
fn measure<T>(runs: usize, mut work: impl FnMut() -> T) -> (Duration, usize, T) {
    let mut cpu = Duration::ZERO;
    let mut heap = 0;
    let mut last = None;
    for _ in 0..runs {
        let before = HELD.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = thread_cpu();
        let outcome = work();
        cpu = cpu.max(thread_cpu().saturating_sub(started));
        heap = heap.max(PEAK.load(Ordering::Relaxed).saturating_sub(before));
        last = Some(outcome);
    }
    (cpu, heap, last.expect("at least one run"))
}

fn minted(root: &KeyPair) -> String {
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
    token::mint(root, &claims).expect("mints")
}

/// `base` with one block per entry of `blocks` appended, if it fits in the token limit.
fn appended(root: &KeyPair, base: &str, blocks: &[String]) -> Option<String> {
    let mut biscuit = Biscuit::from_base64(base, root.public()).ok()?;
    for code in blocks {
        biscuit = biscuit.append(BlockBuilder::new().code(code).ok()?).ok()?;
    }
    let token = biscuit.to_base64().ok()?;
    (token.len() <= MAX_TOKEN_LEN).then_some(token)
}

fn list(items: impl Iterator<Item = String>, separator: &str) -> String {
    items.collect::<Vec<_>>().join(separator)
}

/// The family: (name, blocks). Each is trimmed until its token fits in 4 KiB.
fn family() -> Vec<(String, Vec<String>)> {
    let join = |n: usize| {
        format!(
            "{} b($x, $y, $z) <- a($x), a($y), a($z); \
             c(true) <- b($x0, $y0, $z0), b($x1, $y1, $z1), b($x2, $y2, $z2), $x0 + $x1 + $x2 == -1;",
            list((0..n).map(|i| format!("a({i});")), " ")
        )
    };
    let four_way = format!(
        "{} d(true) <- f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;",
        list((0..40).map(|i| format!("f({i});")), " ")
    );
    let widest = "check if right($a), right($b), right($c);".to_owned();
    let many_checks = list(
        (0..16).map(|i| {
            format!(
                "check if operation($o), $o != \"x{i}\" or right($r), $r != \"y{i}\" or \
                 time($t), $t > 2000-01-01T00:00:00Z or metric($m), $m != \"z{i}\";"
            )
        }),
        "\n",
    );
    let long_expression = format!(
        "check if operation($o), {};",
        list((0..31).map(|_| "$o != \"zz\"".to_owned()), " && ")
    );
    let big_set = format!(
        "check if metric($m) or operation($m), [{}].contains($m);",
        list((0..60).map(|i| format!("\"metric-{i}\"")), ", ")
    );
    let long_strings = format!(
        "check if operation($o), $o.contains(\"{0}\") || $o.starts_with(\"{0}\");",
        "x".repeat(1400)
    );
    let regex = format!(
        "check if operation($o), $o.matches(\"{}\");",
        "(a+)+".repeat(40)
    );
    let closures = "check if time($t), [1,2,3,4,5,6,7,8].all($x -> [1,2,3,4,5,6,7,8].all($y -> \
                    [1,2,3,4,5,6,7,8].all($z -> $x + $y + $z > 0)));"
        .to_owned();
    let fact_flood = list((0..400).map(|i| format!("f({i});")), " ");
    vec![
        ("3-way join, a(0..6) (the issue's)".into(), vec![join(7)]),
        ("3-way join, a(0..3)".into(), vec![join(4)]),
        ("4-way join of 40 facts".into(), vec![four_way]),
        ("fact flood".into(), vec![fact_flood]),
        ("regex (a+)+ x40".into(), vec![regex]),
        ("nested closures 8^3".into(), vec![closures]),
        ("widest accepted join, right^3".into(), vec![widest]),
        ("16 checks x 4 alternatives".into(), vec![many_checks]),
        ("31-term expression".into(), vec![long_expression]),
        ("60-element set".into(), vec![big_set]),
        ("1,400-byte strings".into(), vec![long_strings]),
        (
            "7 blocks of checks".into(),
            (0..7)
                .map(|i| format!("check if operation($o), $o != \"b{i}\"; check if time($t);"))
                .collect(),
        ),
    ]
}

/// biscuit's own authorizer on the token, with saaskit's limits: what evaluating it costs.
fn evaluate(root: &KeyPair, token: &str) -> String {
    let Ok(biscuit) = Biscuit::from_base64(token, root.public()) else {
        return "does not parse".into();
    };
    let limits = AuthorizerLimits {
        max_facts: 1_000,
        max_iterations: 100,
        max_time: Duration::from_millis(250),
    };
    let now = std::time::SystemTime::now();
    let built =
        biscuit_auth::macros::authorizer!(r#"time({now}); operation("me"); allow if true;"#)
            .set_limits(limits.clone())
            .build(&biscuit);
    match built.map(|mut authorizer| authorizer.authorize_with_limits(limits)) {
        Ok(Ok(_)) => "allowed".into(),
        Ok(Err(error)) | Err(error) => format!("{error}").chars().take(40).collect(),
    }
}

fn main() {
    let root = KeyPair::new();
    let base = minted(&root);
    let one = [Operation::named("me")];
    let many: Vec<Operation> = (0..256)
        .map(|i| Operation {
            name: "recordUsage".into(),
            facts: vec![("metric".into(), format!("metric-{i}"))],
        })
        .collect();
    println!(
        "{:34} {:>6} {:>22} {:>13} {:>15}  {:26} evaluated by biscuit, as before",
        "appended blocks", "bytes", "saaskit CPU µs 1 / 256", "heap KiB", "outcome", ""
    );
    let mut worst_cpu = Duration::ZERO;
    let mut worst_heap = 0;
    let plain = measure(50, || {
        token::verify(root.public(), &base, &one, Utc::now()).is_ok()
    });
    println!(
        "{:34} {:>6} {:>22} {:>13.1} {:>15}",
        "none (a minted token)",
        base.len(),
        plain.0.as_micros(),
        plain.1 as f64 / 1024.0,
        "accepted"
    );
    for (name, blocks) in family() {
        let Some(token) = appended(&root, &base, &blocks) else {
            println!("{name:34} does not fit in {MAX_TOKEN_LEN} bytes");
            continue;
        };
        let run = |operations: &[Operation]| {
            token::open(root.public(), &token)
                .map_err(|e| format!("{e:?}"))
                .and_then(|(_, verified)| {
                    verified
                        .authorize_all(operations, Utc::now())
                        .map_err(|e| format!("{e:?}"))
                })
        };
        let (cpu, heap, outcome) = measure(20, || run(&one));
        let (cpu_many, heap_many, _) = measure(5, || run(&many));
        worst_cpu = worst_cpu.max(cpu).max(cpu_many);
        worst_heap = worst_heap.max(heap).max(heap_many);
        let outcome = match outcome {
            Ok(()) => "accepted".to_owned(),
            Err(rejection) => rejection,
        };
        // The full three-way join and the fact flood would each run for many seconds.
        let evaluated = if name.contains("a(0..6)") {
            "(not run: tens of seconds)".to_owned()
        } else {
            let (cpu, heap, verdict) = measure(1, || evaluate(&root, &token));
            format!(
                "{:>9} µs {:>9.1} KiB  {verdict}",
                cpu.as_micros(),
                heap as f64 / 1024.0
            )
        };
        println!(
            "{:34} {:>6} {:>10} / {:>9} {:>6.1} / {:>5.1} {:>15}  {evaluated}",
            name,
            token.len(),
            cpu.as_micros(),
            cpu_many.as_micros(),
            heap as f64 / 1024.0,
            heap_many as f64 / 1024.0,
            outcome.chars().take(15).collect::<String>(),
        );
    }
    println!(
        "\nlargest cost of any hostile token: {} µs of CPU, {:.1} KiB of heap",
        worst_cpu.as_micros(),
        worst_heap as f64 / 1024.0
    );
}
