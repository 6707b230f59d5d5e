//! The echo of our own writes (issue 15, "no echo cycle"): every record a sync writes gets a
//! new stamp, so the next incremental poll reads it again as a change. A change whose current
//! content is exactly what the pair's last sync left on that side (its base, after
//! normalisation), stamped at or after that sync's writes began, tells nothing new: the poll
//! skips it (no fetch, no reconcile).
//!
//! Only incremental polls skip echoes: `--full`, `--days` and `--since` re-check every record
//! they read ([`EchoRule::Recheck`]), which is how a person repairs a record the sync thinks
//! is in sync.
//!
//! Why this loses no edit: an edit made after our write changes the record's content, so it
//! is no longer equal to the base and is not skipped; an edit that puts back the very values
//! of the base changes nothing to sync. A skipped record still counts as read for the
//! watermark (the poll's watermark rules are unchanged), so an edit landing in the same stamp
//! is read again by the next poll like any other.

use crate::store::{Pair, PairStatus};
use chrono::{DateTime, Timelike, Utc};
use contact_sync_engine::mapping::Mapping;
use contact_sync_engine::{Side, SideRecord};

/// Whether a poll skips the echoes of our own writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EchoRule {
    /// An incremental poll: echoes are skipped.
    #[default]
    Skip,
    /// A re-check (`--full`, `--days`, `--since`): every change read is reconciled.
    Recheck,
}

/// Whether `record`, a change read by the poll, is the echo of the last sync of `pair`:
/// - the pair is synced cleanly (no error, no person's choice waiting) with both records, and
///   `record` is its record on that side (a Genesys one still carrying the link to the pair's
///   Salesforce record, and neither merged away nor a merge survivor);
/// - the record's stamp is at or after the time the last sync decided its writes (the pair's
///   `synced_at`; to the whole second, as systems may stamp whole seconds);
/// - its mapped values are the pair's base ([`contact_sync_engine::echo::is_echo`]).
pub fn is_our_echo(mapping: &Mapping, pair: &Pair, record: &SideRecord) -> bool {
    let (Some(base), Some(synced_at)) = (&pair.base, pair.synced_at) else {
        return false;
    };
    let (Some(sf_id), Some(gz_id)) = (&pair.sf_id, &pair.gz_id) else {
        return false;
    };
    let own = match record.side {
        Side::Salesforce => *sf_id == record.id,
        Side::Genesys => {
            *gz_id == record.id
                && record.link.as_ref() == Some(sf_id)
                && record.merged_into.is_none()
                && record.merged_from.is_empty()
        }
    };
    own && pair.status == PairStatus::Synced
        && pair.last_error.is_none()
        && pair.resolutions.is_empty()
        && record.modified_at >= whole_second(synced_at)
        && contact_sync_engine::echo::is_echo(mapping, base, record)
}

fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    const SF: &str = "003000000000001AAA";
    const GZ: &str = "6f1c9a52-0000-4000-8000-000000000001";

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_243_200, 0).expect("valid timestamp")
            + Duration::milliseconds(millis)
    }

    /// A pair synced at t+0.5 s whose base is a title.
    fn synced(title: &str) -> Pair {
        let m = Mapping::default_mapping();
        let mut pair = Pair::new("p-1".into(), Some(SF.into()), Some(GZ.into()));
        pair.status = PairStatus::Synced;
        pair.base = Some(
            m.salesforce_record(
                SF,
                at(0),
                &json!({ "LastName": "Lovelace", "Title": title }),
            )
            .fields,
        );
        pair.synced_at = Some(at(500));
        pair
    }

    fn genesys(title: &str, stamp: DateTime<Utc>, link: Option<&str>) -> SideRecord {
        let mut body = json!({ "lastName": "Lovelace", "title": title });
        if let Some(link) = link {
            body["externalIds"] = json!([{ "externalSource": { "id": "src" }, "value": link }]);
        }
        Mapping::default_mapping().genesys_record(GZ, stamp, body, Some("src"))
    }

    #[test]
    fn our_write_read_back_is_an_echo() {
        // GIVEN a pair synced at t+0.5 s
        let m = Mapping::default_mapping();
        let pair = synced("Countess");
        // WHEN its Genesys contact is read with the base's values, stamped in the same whole
        // second (a system stamping whole seconds) or later
        let same_second = genesys("Countess", at(0), Some(SF));
        let later = genesys("Countess", at(2_000), Some(SF));
        // THEN both are echoes
        assert!(is_our_echo(&m, &pair, &same_second));
        assert!(is_our_echo(&m, &pair, &later));
    }

    #[test]
    fn an_edit_after_our_write_an_older_stamp_or_a_lost_link_is_no_echo() {
        // GIVEN a pair synced at t+0.5 s
        let m = Mapping::default_mapping();
        let pair = synced("Countess");
        // WHEN the contact is read edited, stamped before the sync, or without its link
        let edited = genesys("Mathematician", at(3_000), Some(SF));
        let older = genesys("Countess", at(-1_000), Some(SF));
        let unlinked = genesys("Countess", at(3_000), None);
        // THEN none is an echo
        assert!(!is_our_echo(&m, &pair, &edited));
        assert!(!is_our_echo(&m, &pair, &older));
        assert!(!is_our_echo(&m, &pair, &unlinked));
    }

    #[test]
    fn a_pair_not_cleanly_synced_has_no_echo() {
        // GIVEN the same read of a contact, and pairs pending, with a choice waiting, or
        // without a base
        let m = Mapping::default_mapping();
        let read = genesys("Countess", at(3_000), Some(SF));
        let mut pending = synced("Countess");
        pending.status = PairStatus::Pending;
        let mut chosen = synced("Countess");
        chosen.resolutions.insert(
            "title".into(),
            contact_sync_engine::merge::Choice::Side {
                side: Side::Salesforce,
            },
        );
        let mut no_base = synced("Countess");
        no_base.base = None;
        // WHEN each is checked THEN none has an echo
        for pair in [pending, chosen, no_base] {
            assert!(!is_our_echo(&m, &pair, &read));
        }
    }
}
