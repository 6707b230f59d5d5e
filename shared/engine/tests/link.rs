//! Properties of the Genesys link: removing it is the exact inverse of setting it.

use contact_sync_engine::mapping::{GenesysLink, remove_genesys_link, set_genesys_link};
use proptest::prelude::*;
use serde_json::{Value, json};

const SOURCE_ID: &str = "src-salesforce";

/// `externalIds` entries of other external sources (never the link source).
fn other_entries() -> impl Strategy<Value = Vec<Value>> {
    proptest::collection::vec(("src-[a-z]{1,6}", "[A-Za-z0-9-]{1,12}"), 0..4).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(source, value)| json!({"externalSource": {"id": source}, "value": value}))
            .collect()
    })
}

proptest! {
    #[test]
    fn removing_the_link_undoes_setting_it_and_keeps_everything_else(
        others in other_entries(),
        id15 in "003[A-Za-z0-9]{12}",
        with_url in any::<bool>(),
        by_short_id in any::<bool>(),
    ) {
        // GIVEN a Genesys contact with other sources' entries, linked to a Salesforce record
        let id18 = contact_sync_engine::mapping::salesforce_id18(&id15).expect("valid id");
        let original = json!({"firstName": "Ana", "externalIds": others.clone()});
        let mut body = original.clone();
        let instance = with_url.then_some("https://example.my.salesforce.com");
        set_genesys_link(&mut body, &GenesysLink::new(SOURCE_ID, &id18, instance));

        // WHEN the link to that record is removed (by its 15- or 18-character Id)
        let gone = if by_short_id { &id15 } else { &id18 };
        let removed = remove_genesys_link(&mut body, SOURCE_ID, gone);

        // THEN the contact is as it was before the link was set, and removing again finds
        // nothing to remove
        prop_assert!(removed);
        prop_assert_eq!(&body, &original);
        prop_assert!(!remove_genesys_link(&mut body, SOURCE_ID, gone));
        prop_assert_eq!(&body, &original);
    }
}
