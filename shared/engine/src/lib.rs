//! The pure contact-sync engine: no I/O, no clock, no network.
//!
//! Records from both systems are mapped to a [`CanonicalContact`] by the [`mapping`], merged
//! three ways against the pair's base snapshot by [`merge`], unlinked records are paired by
//! [`matching`], and every decision ends in a deterministic [`plan::PairPlan`].

pub mod contact;
pub mod country;
pub mod derivation;
pub mod mapping;
pub mod matching;
pub mod merge;
pub mod normalise;
pub mod phone;
pub mod plan;
pub mod side;
pub mod value_map;

pub use contact::{CanonicalContact, SideRecord};
pub use side::Side;
