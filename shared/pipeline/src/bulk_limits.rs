//! The bulk request limits the writers learned (a multi-record request refused as a whole, see
//! `ContactWriter::bulk_limit`), remembered in the store so later runs and other reconcilers
//! start there: one store read per side when an integration reconciles its first batch, one
//! conditional write per side each time a writer learns a lower limit. The limits are a saving,
//! not a correctness matter (a writer that starts too high learns again, at the cost of one
//! refused request per step), so a store failure here is logged and never fails a batch.

use crate::integration::Integration;
use contact_sync_engine::Side;
use std::collections::HashMap;
use std::sync::Mutex;

const SIDES: [Side; 2] = [Side::Salesforce, Side::Genesys];

/// What one integration (one process) knows of the stored limits.
#[derive(Debug, Default)]
pub(crate) struct Remembered {
    /// Set once the stored limits were read and handed to the writers.
    loaded: tokio::sync::OnceCell<()>,
    /// The limit per side known to be stored (read, or written by this process).
    stored: Mutex<HashMap<Side, u64>>,
}

impl Remembered {
    fn stored(&self, side: Side) -> Option<u64> {
        self.stored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&side)
            .copied()
    }

    fn note(&self, side: Side, limit: u64) {
        let mut stored = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        let entry = stored.entry(side).or_insert(limit);
        *entry = (*entry).min(limit);
    }
}

/// Hands the limits earlier runs learned to the writers, once per integration: they start
/// there instead of at their configured size. A failed read is logged and tried again on the
/// next batch.
pub async fn adopt_remembered(integration: &Integration) {
    let remembered = integration.remembered_limits();
    let loaded = remembered
        .loaded
        .get_or_try_init(|| async {
            for side in SIDES {
                let Some(writer) = integration.writer(side) else {
                    continue;
                };
                if let Some(limit) = integration
                    .store
                    .bulk_limit(&integration.name, side)
                    .await?
                {
                    remembered.note(side, limit);
                    writer.adopt_bulk_limit(usize::try_from(limit).unwrap_or(usize::MAX));
                }
            }
            Ok::<(), crate::store::StoreError>(())
        })
        .await;
    if let Err(e) = loaded {
        tracing::warn!(error = %e, "learned bulk limits not read; writers start at their configured size");
    }
}

/// Stores each limit a writer learned below the one known to be stored. No store call when
/// nothing was learned.
pub async fn remember_learned(integration: &Integration) {
    let remembered = integration.remembered_limits();
    for side in SIDES {
        let Some(learned) = integration
            .writer(side)
            .and_then(|w| w.bulk_limit())
            .map(|l| l as u64)
        else {
            continue;
        };
        if remembered.stored(side).is_some_and(|s| s <= learned) {
            continue;
        }
        match integration
            .store
            .lower_bulk_limit(&integration.name, side, learned)
            .await
        {
            Ok(_) => remembered.note(side, learned),
            Err(e) => {
                tracing::warn!(%side, limit = learned, error = %e, "learned bulk limit not stored; the next run learns it again");
            }
        }
    }
}
