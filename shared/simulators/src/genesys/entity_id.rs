//! Entity ids of one simulated org: version-4 UUIDs drawn from a fixed-seed generator, so a
//! fresh simulator fed the same calls hands out the same ids.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Kept in a snapshot as the seed and how many ids were drawn; restoring replays the draws.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Drawn", into = "Drawn")]
pub(crate) struct EntityIds {
    seed: u64,
    drawn: u64,
    generator: StdRng,
}

#[derive(Serialize, Deserialize)]
struct Drawn {
    seed: u64,
    drawn: u64,
}

impl From<Drawn> for EntityIds {
    fn from(state: Drawn) -> Self {
        let mut ids = EntityIds::seeded(state.seed);
        for _ in 0..state.drawn {
            ids.next_id();
        }
        ids
    }
}

impl From<EntityIds> for Drawn {
    fn from(ids: EntityIds) -> Self {
        Drawn {
            seed: ids.seed,
            drawn: ids.drawn,
        }
    }
}

impl EntityIds {
    pub(crate) fn seeded(seed: u64) -> Self {
        Self {
            seed,
            drawn: 0,
            generator: StdRng::seed_from_u64(seed),
        }
    }

    pub(crate) fn next_id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.generator.fill_bytes(&mut bytes);
        self.drawn += 1;
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4_and_repeatable() {
        // GIVEN two generators with the same seed
        let mut first = EntityIds::seeded(1);
        let mut second = EntityIds::seeded(1);
        // WHEN drawing ids
        let id = first.next_id();
        // THEN they are the same valid v4 UUIDs
        assert_eq!(id, second.next_id());
        let parsed = uuid::Uuid::parse_str(&id).expect("a uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(id, first.next_id());
    }

    #[test]
    fn a_restored_generator_continues_where_the_saved_one_stopped() {
        // GIVEN a generator that drew three ids, saved
        let mut original = EntityIds::seeded(7);
        for _ in 0..3 {
            original.next_id();
        }
        let saved = serde_json::to_value(&original).expect("serialise");
        // WHEN restored and both draw again
        let mut restored: EntityIds = serde_json::from_value(saved).expect("restore");
        // THEN they hand out the same next id (never one already used)
        assert_eq!(restored.next_id(), original.next_id());
    }
}
