//! Bad input: broken API answers (truncated JSON, wrong types, missing fields, HTML error pages,
//! invalid UTF-8), malformed queue messages, hostile and oversized field values. Each gives a
//! typed error or a visible review item, and nothing is lost once the input is good again;
//! property tests run the message and record decoders over arbitrary input.

use contact_sync_connectors::http::decode;
use contact_sync_e2e::World;
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::PipelineError;
use contact_sync_pipeline::queue::{ConflictEvent, ReconcileBatch};
use contact_sync_pipeline::reconcile::reconcile;
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::system::SystemError;
use contact_sync_simulators::{BrokenBody, Fault};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashSet;

/// 8 people in Salesforce only and 5 in Genesys only.
fn seed(w: &World) {
    for i in 0..8 {
        w.sf.insert(json!({"FirstName": format!("Sfirst{i}"), "LastName": format!("Slast{i}"), "Email": format!("s{i}@example.com"), "Title": format!("Stitle{i}")}));
    }
    for i in 0..5 {
        w.gz.insert(json!({"firstName": format!("Gfirst{i}"), "lastName": format!("Glast{i}"), "workEmail": format!("g{i}@example.org")}));
    }
}

/// Every person once on each side, every Genesys contact linked to a live Salesforce record.
fn assert_converged(w: &World, people: usize) {
    let sf = w.sf.all();
    let gz = w.gz.all();
    assert_eq!(sf.len(), people, "Salesforce holds each person once");
    assert_eq!(gz.len(), people, "Genesys holds each person once");
    let sf_ids: HashSet<&str> = sf.iter().filter_map(|c| c["Id"].as_str()).collect();
    let links: HashSet<&str> = gz
        .iter()
        .filter_map(|c| c["externalIds"][0]["value"].as_str())
        .collect();
    assert_eq!(
        links, sf_ids,
        "one linked Genesys contact per Salesforce record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_answer_is_a_typed_error_and_nothing_is_lost() {
    let targets: [(Side, &str); 7] = [
        (Side::Salesforce, "/oauth2/token"),
        (Side::Salesforce, "/query"),
        (Side::Salesforce, "/composite/sobjects"),
        (Side::Genesys, "/oauth/token"),
        (Side::Genesys, "/scan/contacts"),
        (Side::Genesys, "/bulk/contacts/add"),
        (Side::Genesys, "/bulk/contacts/update"),
    ];
    let mut typed_errors = 0;
    for broken in BrokenBody::ALL {
        for (side, path) in targets {
            // GIVEN 13 people to sync, and one answer of this kind broken this way
            let w = World::new().await;
            seed(&w);
            let fault = Fault::Malformed {
                path_contains: path.into(),
                body: broken,
                times: 1,
            };
            match side {
                Side::Salesforce => w.sf.inject(fault),
                Side::Genesys => w.gz.inject(fault),
            }
            // WHEN a cycle runs
            let first = w.try_sync().await;
            // THEN it either finished (the broken call's records failed and wait as pending) or
            // stopped with a typed, permanent protocol error that quotes no value
            if let Err(e) = &first {
                typed_errors += 1;
                assert!(
                    matches!(
                        e,
                        PipelineError::System(
                            SystemError::Protocol { .. }
                                | SystemError::Transient { .. }
                                | SystemError::Auth { .. }
                        )
                    ),
                    "{broken:?} on {path}: {e:?}"
                );
                let text = e.to_string();
                for word in ["Sfirst", "Slast", "Gfirst", "@example", "Stitle"] {
                    assert!(!text.contains(word), "{broken:?} on {path}: {text}");
                }
            }
            // AND once the answers are good again, two cycles converge with nobody lost or
            // duplicated
            w.sf.clear_faults();
            w.gz.clear_faults();
            for _ in 0..2 {
                w.try_sync()
                    .await
                    .unwrap_or_else(|e| panic!("{broken:?} on {path}: clean cycle: {e}"));
            }
            assert_converged(&w, 13);
        }
    }
    println!(
        "broken answers: {} kinds x {} calls, {typed_errors} stopped a cycle with a typed error",
        BrokenBody::ALL.len(),
        targets.len()
    );
}

#[tokio::test]
async fn malformed_queue_messages_are_refused_with_typed_errors_and_touch_nothing() {
    // GIVEN a world with people, and message bodies that are not valid reconcile batches
    let w = World::new().await;
    seed(&w);
    let name = w.integration.name.clone();
    let huge = format!(
        "{{\"v\":1,\"integration\":\"{name}\",\"run_id\":\"r\",\"pairs\":[{}]}}",
        vec!["{}"; 5_000].join(",")
    );
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{}".to_vec(),
        b"{\"v\":1,\"integration\":\"default\",\"run_id\":\"r\",\"pairs\":[{\"sf_id\":\"003"
            .to_vec(),
        b"{\"v\":1,\"integration\":\"default\",\"run_id\":7,\"pairs\":[]}".to_vec(),
        format!("{{\"v\":2,\"integration\":\"{name}\",\"run_id\":\"r\",\"pairs\":[]}}")
            .into_bytes(),
        b"{\"v\":1,\"integration\":\"someone-else\",\"run_id\":\"r\",\"pairs\":[]}".to_vec(),
        huge.into_bytes(),
        vec![b'{', 0xff, 0xfe, b'}'],
        b"<html><body>502 Bad Gateway</body></html>".to_vec(),
    ];
    for body in &bodies {
        // WHEN each is decoded and, if it decodes, reconciled
        let outcome = match serde_json::from_slice::<ReconcileBatch>(body) {
            Err(_) => Err("not a batch".to_string()),
            Ok(batch) => match reconcile(&w.integration, &batch).await {
                Err(PipelineError::Message(m)) => Err(m),
                other => Ok(format!("{other:?}")),
            },
        };
        // THEN it is refused (a typed `Message` error for decodable ones), permanently
        assert!(
            outcome.is_err(),
            "{:?} was accepted: {outcome:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
    }
    // AND nothing was written anywhere
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
    let ids: Vec<String> =
        w.sf.all()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect();
    assert!(
        w.store
            .links(Side::Salesforce, &ids)
            .await
            .expect("links")
            .is_empty()
    );
    // AND the people are all synced by the next cycle
    w.sync().await;
    assert_converged(&w, 13);
}

#[tokio::test]
async fn hostile_and_oversized_values_sync_exactly_or_wait_visibly_for_review() {
    // GIVEN people whose values carry SOQL metacharacters, quotes, backslashes, non-ASCII
    // letters, and values longer than the systems allow
    let w = World::new().await;
    let long = "L".repeat(5_000);
    let hostile = [
        json!({"FirstName": "O'Brien", "LastName": "Smith\\' OR Id != null --", "Email": "o'brien+%_x@example.com", "Title": "50% _off_ \"quoted\""}),
        json!({"FirstName": "Zoë", "LastName": "Ærøskøbing-ß", "Email": "zoe.aero@example.com", "Title": "Ünïcödé ✓ 🚀"}),
        json!({"FirstName": "Ann", "LastName": "Longtitle", "Email": "ann.long@example.com", "Title": long}),
        json!({"FirstName": "Semi", "LastName": "Colon; DROP", "Email": "semi@example.com", "MailingCity": "São Paulo \\ Rio"}),
    ];
    let mut ids = Vec::new();
    for body in &hostile {
        // A value the Salesforce API itself refuses (too long) never enters the org.
        let sf = w.sf.clone();
        let body = body.clone();
        ids.push(std::panic::catch_unwind(move || sf.insert(body)).ok());
    }
    let gz = w.gz.clone();
    let refused_by_genesys = std::panic::catch_unwind(move || {
        gz.insert(json!({"firstName": "D'Arcy", "lastName": "McQuote\\\"", "workEmail": "d'arcy@example.org", "title": "x".repeat(3_000)}))
    })
    .is_err();
    w.gz.insert(json!({"firstName": "D'Arcy", "lastName": "McQuote\\\"", "workEmail": "d'arcy@example.org", "title": "x".repeat(200)}));
    assert!(
        refused_by_genesys,
        "the Genesys API refuses a 3,000-character title"
    );
    // WHEN two cycles run
    w.try_sync().await.expect("a cycle over hostile values");
    w.sync().await;
    // THEN every person the systems accepted is on both sides with the same values, and
    // each one refused is an open review item (nothing silently dropped)
    let open = w
        .store
        .conflicts(&w.integration.name, true)
        .await
        .expect("conflicts");
    for (body, id) in hostile.iter().zip(&ids) {
        let Some(id) = id else { continue };
        let linked = w.genesys_linked_to(id);
        if linked.is_empty() {
            assert!(
                open.iter().any(|c| c.sf_id.as_deref() == Some(id.as_str())),
                "{} neither synced nor held for review",
                body["LastName"]
            );
            continue;
        }
        let gz = &linked[0];
        assert_eq!(gz["lastName"], body["LastName"]);
        assert_eq!(gz["firstName"], body["FirstName"]);
        if let Some(title) = body.get("Title") {
            assert_eq!(&gz["title"], title);
        }
    }
    let darcy =
        w.gz.all()
            .into_iter()
            .find(|c| c["firstName"] == "D'Arcy")
            .expect("D'Arcy");
    let darcy_id = darcy["id"].as_str().expect("id");
    let in_salesforce = w.salesforce_with_email("d'arcy@example.org").len();
    let held = open.iter().any(|c| c.gz_id.as_deref() == Some(darcy_id));
    assert!(
        in_salesforce == 1 || held,
        "a Genesys title too long for Salesforce is synced or held for review"
    );
    // AND a further cycle writes nothing (no ping-pong on escaped or normalised values)
    w.reset_counters();
    w.sync().await;
    assert_eq!(w.sf.counters().writes + w.gz.counters().writes, 0);
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Email".to_string()),
                    Just("Phone".to_string()),
                    Just("FirstName".to_string()),
                    Just("workEmail".to_string()),
                    Just("workPhone".to_string()),
                    Just("externalIds".to_string()),
                    Just("address".to_string()),
                    Just("display".to_string()),
                    ".{0,10}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn queue_message_decoders_never_panic_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = serde_json::from_slice::<ReconcileBatch>(&bytes);
        let _ = serde_json::from_slice::<ConflictEvent>(&bytes);
    }

    #[test]
    fn queue_message_decoders_never_panic_on_any_json(value in json_value()) {
        let text = value.to_string();
        let _ = serde_json::from_str::<ReconcileBatch>(&text);
        let _ = serde_json::from_str::<ConflictEvent>(&text);
    }

    #[test]
    fn response_decode_errors_never_quote_the_body(prefix in ".{0,30}", cut in 0usize..60) {
        // A body carrying a value, broken at any point: the error names a position only.
        let body = format!("{{\"records\":[{{\"Email\":\"{prefix}MARKERVALUE@example.com\"}}]}}");
        let broken = &body.as_bytes()[..cut.min(body.len())];
        if let Err(e) = decode::<Vec<u32>>(broken) {
            prop_assert!(!e.to_string().contains("MARKERVALUE"), "{}", e);
        }
        if let Err(e) = decode::<Vec<u32>>(body.as_bytes()) {
            prop_assert!(!e.to_string().contains("MARKERVALUE"), "{}", e);
        }
    }

    #[test]
    fn record_decoders_take_any_json_without_panicking(body in json_value()) {
        let mapping = Mapping::default_mapping();
        let now = chrono::Utc::now();
        let _ = mapping.salesforce_record("003000000000001AAA", now, &body);
        let _ = mapping.genesys_record("00000000-0000-0000-0000-000000000001", now, body, Some("src"));
    }
}
