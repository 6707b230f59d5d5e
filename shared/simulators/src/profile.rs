//! Simulator profiles: which value each behaviour the real APIs do not document takes.
//!
//! The real Salesforce and Genesys Cloud APIs leave some behaviours open (how fine a
//! modification stamp is, whether a write that changes nothing moves it, in which order bulk
//! results come back, how full a page is). A client that works only because the simulator
//! happened to pick the convenient value would break against the real service, so each
//! simulator config can be built for a [`Profile`]:
//!
//! * [`Profile::Lenient`]: the simulators as they behaved before profiles existed (already
//!   not convenient everywhere: bulk results come back reversed, no-op writes move
//!   `modifyDate`).
//! * [`Profile::Strict`]: the least convenient plausible value of every such behaviour.
//!
//! `SalesforceSimConfig::default()` and `GenesysSimConfig::default()` read the profile from
//! the environment variable [`PROFILE_ENV`] (`lenient` when unset), so a whole test run
//! switches with `CONTACT_SYNC_SIM_PROFILE=strict cargo test ...`.

use thiserror::Error;

/// The environment variable the configs' `Default` reads: `lenient` (or unset) or `strict`.
pub const PROFILE_ENV: &str = "CONTACT_SYNC_SIM_PROFILE";

/// Which value the simulators give the behaviours the real APIs do not document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The simulators' long-standing behaviour.
    #[default]
    Lenient,
    /// The least convenient plausible value of every undocumented behaviour.
    Strict,
}

/// [`PROFILE_ENV`] holds something other than `lenient` or `strict`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{PROFILE_ENV} must be `lenient` or `strict`, not `{0}`")]
pub struct UnknownProfile(pub String);

impl Profile {
    /// Parses a profile name (`lenient` or `strict`, any case, surrounding blanks ignored).
    pub fn parse(name: &str) -> Result<Profile, UnknownProfile> {
        match name.trim().to_ascii_lowercase().as_str() {
            "lenient" => Ok(Profile::Lenient),
            "strict" => Ok(Profile::Strict),
            _ => Err(UnknownProfile(name.to_string())),
        }
    }

    /// The profile named by [`PROFILE_ENV`]; `Lenient` when it is unset or empty.
    pub fn from_env() -> Result<Profile, UnknownProfile> {
        match std::env::var(PROFILE_ENV) {
            Ok(name) if !name.trim().is_empty() => Profile::parse(&name),
            _ => Ok(Profile::Lenient),
        }
    }

    /// [`Profile::from_env`] for the configs' `Default`.
    ///
    /// # Panics
    /// If [`PROFILE_ENV`] holds an unknown name: a typo must not quietly run a test suite
    /// under the lenient profile.
    pub(crate) fn from_env_or_panic() -> Profile {
        Profile::from_env().unwrap_or_else(|error| panic!("{error}"))
    }
}

/// How a system stamps modifications (`SystemModstamp`, `LastModifiedDate`, `modifyDate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampResolution {
    /// Millisecond precision, and every write gets a stamp of its own (1 ms after the last
    /// one when the clock has not moved): stamps are unique and strictly increasing.
    UniqueMillisecond,
    /// Whole seconds: every write within one second gets the same stamp, whatever record it
    /// touches (stamps never decrease, but many records share one).
    SharedSecond,
}

/// In which order bulk results come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOrder {
    /// The reverse of the request order.
    Reversed,
    /// A shuffle drawn from `seed` and the request's sequence number in this simulator, so
    /// the same calls on a fresh simulator give the same orders.
    Shuffled { seed: u64 },
}

/// What a write that changes no field does to the modification stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoOpWrite {
    /// The stamp moves as for any write.
    MovesStamp,
    /// The stamp stays where it was.
    KeepsStamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_parse_and_unknown_ones_are_refused() {
        // GIVEN profile names as a CI script might spell them
        // WHEN parsing them
        // THEN both names parse in any case, anything else is an error naming the variable
        assert_eq!(Profile::parse("strict"), Ok(Profile::Strict));
        assert_eq!(Profile::parse(" STRICT "), Ok(Profile::Strict));
        assert_eq!(Profile::parse("lenient"), Ok(Profile::Lenient));
        let error = Profile::parse("strikt").expect_err("a typo");
        assert!(error.to_string().contains(PROFILE_ENV));
    }
}
