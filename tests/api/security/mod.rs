//! Security: each finding of the security review as a test, plus generated documents.

pub(crate) mod attenuation;
mod csrf;
mod documents;
mod hostile;
mod lists;
mod passwords;
mod plans;
mod revocation;
mod shapes;
mod staff;
mod text;
mod throttle;
mod time;
mod usage;
