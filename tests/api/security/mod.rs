//! Security: each finding of the security review as a test, plus generated documents.

mod attenuation;
mod documents;
mod revocation;
mod shapes;
mod staff;
mod time;
