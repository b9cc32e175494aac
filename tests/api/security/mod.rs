//! Security: each finding of the security review as a test, plus generated documents.

pub(crate) mod attenuation;
mod documents;
mod revocation;
mod shapes;
mod staff;
mod time;
