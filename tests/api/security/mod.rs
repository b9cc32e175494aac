//! Security: each finding of the security review as a test, plus generated documents.

pub(crate) mod attenuation;
mod documents;
mod passwords;
mod plans;
mod revocation;
mod shapes;
mod staff;
mod throttle;
mod time;
mod usage;
