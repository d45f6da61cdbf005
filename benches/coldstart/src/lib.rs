//! The pieces of the cold-start harness that tests reuse: a Lambda Runtime API on loopback that
//! drives a real function binary, and destination stand-ins that answer at once.

pub mod destination;
pub mod runtime_api;
