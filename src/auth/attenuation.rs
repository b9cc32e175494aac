//! What a holder may append to a token, judged before any Datalog runs.
//!
//! Biscuit lets anyone who holds a token append blocks offline. The library bounds an
//! authorization by facts, iterations and time, but checks those bounds only between Datalog
//! iterations: one iteration of one holder rule (a three-way join of a few hundred facts it
//! derived itself) ran for minutes and took hundreds of megabytes. So saaskit does not let a
//! holder's block compute; it may only *ask*:
//!
//! - a holder block holds checks only — no facts, no rules, no scope annotations, no
//!   third-party signature — at most [`MAX_CHECKS`] of them, each of at most [`MAX_QUERIES`]
//!   alternatives (`or`) of at most [`MAX_PREDICATES`] predicates;
//! - each predicate names a fact the server provides ([`SERVER_FACTS`]), with one term;
//! - each expression uses comparisons, `==`/`!=`/`===`/`!==`, `!`, `&&`, `||`, parentheses,
//!   `.contains()`, `.starts_with()`, `.ends_with()`, `.length()`, `.intersection()`,
//!   `.union()` and `.type()` only — no regular expression, arithmetic, closure over a
//!   collection (`.all`, `.any`) or extern function — of at most [`MAX_OPS`] operations, with
//!   literal collections of at most [`MAX_ELEMENTS`] elements;
//! - the work of all checks — for each alternative, the number of combinations of facts its
//!   predicates can match (the server's facts are counted from the authority block) times its
//!   operations plus one — is at most [`MAX_WORK`].
//!
//! Together these bound one authorization to a few thousand term comparisons over a world of
//! a few dozen facts, which `bench/refusals.sh` measures. The same decode yields the authority
//! block's facts, which the claims are read from without running Datalog.

use biscuit_auth::Biscuit;
use biscuit_auth::datalog::{Binary, Op, Predicate, Rule, SymbolTable, Term, Unary};
use biscuit_auth::format::convert::proto_block_to_token_block;
use biscuit_auth::format::schema;
use prost::Message;

/// Checks per holder block.
pub const MAX_CHECKS: usize = 16;
/// Alternatives (`check if a or b`) per check.
pub const MAX_QUERIES: usize = 4;
/// Predicates per alternative.
pub const MAX_PREDICATES: usize = 4;
/// Expression operations per alternative.
pub const MAX_OPS: usize = 96;
/// Elements of a literal set, array or map.
pub const MAX_ELEMENTS: usize = 64;
/// The work of every check of every holder block together (see the module's documentation).
pub const MAX_WORK: u64 = 4_096;

/// The facts a holder's checks can ask about: the authority block's and the request's.
pub const SERVER_FACTS: [&str; 10] = [
    "user",
    "session",
    "business",
    "role",
    "right",
    "staff",
    "impersonator",
    "time",
    "operation",
    "metric",
];

/// The facts of [`SERVER_FACTS`] that the authority block states; the others are the request's.
const AUTHORITY_FACTS: [&str; 7] = [
    "user",
    "session",
    "business",
    "role",
    "right",
    "staff",
    "impersonator",
];

/// What the authority block of a token states, read without running Datalog.
#[derive(Debug, Default)]
pub struct Authority {
    /// Each fact as its name and its one term (`right("team:read")` is `("right", "team:read")`;
    /// `staff(true)` is `("staff", "true")`).
    pub facts: Vec<(String, String)>,
}

impl Authority {
    /// The values of the facts named `name`.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.facts
            .iter()
            .filter(move |(fact, _)| fact == name)
            .map(|(_, value)| value.as_str())
    }

    fn count(&self, name: &str) -> u64 {
        self.values(name).count() as u64
    }
}

/// Which of the request's facts the holders' checks ask about. Authorizations whose facts
/// differ only in facts no check asks about have the same outcome, so a request is judged
/// once per distinct projection of its root fields onto these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asks {
    pub operation: bool,
    /// Any fact drawn from the request's arguments (`metric`, and whatever is added beside
    /// it): every fact that is neither the authority's nor `time` or `operation`, so that a
    /// new request fact is part of the projection from the day it exists.
    pub facts: bool,
}

/// What judging a token's appended blocks found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Judged {
    /// The work of all their checks (at most [`MAX_WORK`]).
    pub work: u64,
    pub asks: Asks,
}

/// Why a token's blocks are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block {block}: {reason}")]
pub struct Refused {
    pub block: usize,
    pub reason: &'static str,
}

/// Decodes every block of `biscuit` (already verified) and judges the holder's blocks; returns
/// what the authority block states and what its holders' checks may cost and ask.
///
/// # Errors
/// [`Refused`] naming the first block outside the rules of this module.
pub fn inspect(biscuit: &Biscuit) -> Result<(Authority, Judged), Refused> {
    let proto = biscuit.container().to_proto();
    let refused = |block, reason| Refused { block, reason };
    let signed = std::iter::once(&proto.authority).chain(&proto.blocks);
    let mut strings = Vec::new();
    let mut authority = Authority::default();
    let mut judged = Judged::default();
    for (index, signed) in signed.enumerate() {
        if index > 0 && signed.external_signature.is_some() {
            return Err(refused(index, "third-party blocks are not accepted"));
        }
        let block = schema::Block::decode(signed.block.as_slice())
            .ok()
            .and_then(|block| proto_block_to_token_block(&block, None).ok())
            .ok_or(refused(index, "the block does not decode"))?;
        strings.extend(block.symbols.strings());
        let symbols =
            SymbolTable::from(strings.clone()).map_err(|_| refused(index, "bad symbols"))?;
        if index == 0 {
            authority = read_authority(&block.facts, &symbols).ok_or(refused(
                0,
                "the authority block is not one this server mints",
            ))?;
            continue;
        }
        if !block.facts.is_empty() || !block.rules.is_empty() {
            return Err(refused(index, "appended blocks may hold checks only"));
        }
        if !block.scopes.is_empty() {
            return Err(refused(index, "scope annotations are not accepted"));
        }
        if block.checks.len() > MAX_CHECKS {
            return Err(refused(index, "too many checks"));
        }
        for check in &block.checks {
            if check.queries.len() > MAX_QUERIES {
                return Err(refused(index, "too many alternatives in a check"));
            }
            for query in &check.queries {
                let cost =
                    query_work(query, &symbols, &authority).map_err(|r| refused(index, r))?;
                judged.work = judged.work.saturating_add(cost);
                for predicate in &query.body {
                    match symbols.get_symbol(predicate.name) {
                        Some("operation") => judged.asks.operation = true,
                        Some("time") => {}
                        Some(name) if !AUTHORITY_FACTS.contains(&name) => judged.asks.facts = true,
                        _ => {}
                    }
                }
            }
        }
        if judged.work > MAX_WORK {
            return Err(refused(index, "the checks could cost too much to evaluate"));
        }
    }
    Ok((authority, judged))
}

/// The authority's facts, each with one string or boolean term.
fn read_authority(
    facts: &[biscuit_auth::datalog::Fact],
    symbols: &SymbolTable,
) -> Option<Authority> {
    let facts = facts
        .iter()
        .map(|fact| {
            let name = symbols.get_symbol(fact.predicate.name)?.to_owned();
            let value = match fact.predicate.terms.as_slice() {
                [Term::Str(value)] => symbols.get_symbol(*value)?.to_owned(),
                [Term::Bool(value)] => value.to_string(),
                _ => return None,
            };
            Some((name, value))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Authority { facts })
}

/// The work of one alternative of a check: the combinations of facts its predicates can
/// match, times its operations plus one.
fn query_work(
    query: &Rule,
    symbols: &SymbolTable,
    authority: &Authority,
) -> Result<u64, &'static str> {
    if !query.scopes.is_empty() {
        return Err("scope annotations are not accepted");
    }
    if query.body.len() > MAX_PREDICATES {
        return Err("too many predicates in a check");
    }
    let mut combinations = 1u64;
    for predicate in &query.body {
        combinations = combinations.saturating_mul(matching(predicate, symbols, authority)?);
    }
    let mut ops = 0usize;
    for expression in &query.expressions {
        ops = ops.saturating_add(allowed_ops(&expression.ops)?);
    }
    if ops > MAX_OPS {
        return Err("an expression is too long");
    }
    Ok(combinations.saturating_mul(ops as u64 + 1))
}

/// How many facts of the world `predicate` can match: those of the authority block with its
/// name, or the one the request provides.
fn matching(
    predicate: &Predicate,
    symbols: &SymbolTable,
    authority: &Authority,
) -> Result<u64, &'static str> {
    let name = symbols
        .get_symbol(predicate.name)
        .filter(|name| SERVER_FACTS.contains(name))
        .ok_or("a check names a fact the server does not provide")?;
    match predicate.terms.as_slice() {
        [term] => term_size(term)?,
        _ => return Err("the server's facts have one term"),
    };
    // The request states one of each of its facts per authorization.
    Ok(if AUTHORITY_FACTS.contains(&name) {
        authority.count(name).max(1)
    } else {
        1
    })
}

/// The operations of an expression, each one allowed; closures count their bodies and may
/// take no parameter (those `&&` and `||` evaluate lazily).
fn allowed_ops(ops: &[Op]) -> Result<usize, &'static str> {
    let mut count = 0usize;
    for op in ops {
        count = count.saturating_add(match op {
            Op::Value(term) => term_size(term)?,
            Op::Unary(Unary::Negate | Unary::Parens | Unary::Length | Unary::TypeOf) => 1,
            Op::Unary(Unary::Ffi(_)) => return Err("extern functions are not accepted"),
            Op::Binary(binary) => {
                allowed_binary(binary)?;
                1
            }
            Op::Closure(parameters, body) if parameters.is_empty() => {
                allowed_ops(body)?.saturating_add(1)
            }
            Op::Closure(..) => return Err("closures over collections are not accepted"),
        });
    }
    Ok(count)
}

fn allowed_binary(binary: &Binary) -> Result<(), &'static str> {
    match binary {
        Binary::LessThan
        | Binary::GreaterThan
        | Binary::LessOrEqual
        | Binary::GreaterOrEqual
        | Binary::Equal
        | Binary::NotEqual
        | Binary::HeterogeneousEqual
        | Binary::HeterogeneousNotEqual
        | Binary::Contains
        | Binary::Prefix
        | Binary::Suffix
        | Binary::And
        | Binary::Or
        | Binary::LazyAnd
        | Binary::LazyOr
        | Binary::Intersection
        | Binary::Union => Ok(()),
        Binary::Regex => Err("regular expressions are not accepted"),
        Binary::Add
        | Binary::Sub
        | Binary::Mul
        | Binary::Div
        | Binary::BitwiseAnd
        | Binary::BitwiseOr
        | Binary::BitwiseXor => Err("arithmetic is not accepted"),
        Binary::All | Binary::Any => Err("closures over collections are not accepted"),
        Binary::Get | Binary::TryOr => Err("this operation is not accepted"),
        Binary::Ffi(_) => Err("extern functions are not accepted"),
    }
}

/// A term's size in operations: one, or one per element of a literal collection, which may
/// hold at most [`MAX_ELEMENTS`].
fn term_size(term: &Term) -> Result<usize, &'static str> {
    let elements = match term {
        Term::Set(set) => set.len(),
        Term::Array(array) => array.len(),
        Term::Map(map) => map.len(),
        _ => return Ok(1),
    };
    if elements > MAX_ELEMENTS {
        return Err("a literal collection is too large");
    }
    // Nested collections count their elements once more each level.
    let sum = |terms: &mut dyn Iterator<Item = &Term>| -> Result<usize, &'static str> {
        let mut total = 0usize;
        for term in terms {
            total = total.saturating_add(term_size(term)?);
        }
        Ok(total)
    };
    let nested = match term {
        Term::Set(set) => sum(&mut set.iter())?,
        Term::Array(array) => sum(&mut array.iter())?,
        Term::Map(map) => sum(&mut map.values())?,
        _ => 0,
    };
    if nested > MAX_ELEMENTS {
        return Err("a literal collection is too large");
    }
    Ok(nested.max(1))
}

#[cfg(test)]
#[path = "attenuation_tests.rs"]
mod tests;
