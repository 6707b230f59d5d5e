//! The simulator profiles: the strict one holds the least convenient plausible value of each
//! behaviour the real APIs leave open; the lenient one keeps the long-standing behaviour.

use std::collections::BTreeMap;

use contact_sync_simulators::{
    GenesysSim, GenesysSimConfig, NoOpWrite, Profile, ResultOrder, SalesforceSim,
    SalesforceSimConfig, StampResolution,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SF_API: &str = "/services/data/v62.0";
const GC_API: &str = "/api/v2/externalcontacts";

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn salesforce_token(sim: &SalesforceSim, client: &Client) -> String {
    let (status, body) = send(
        client
            .post(format!("{}/services/oauth2/token", sim.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", sim.client_id()),
                ("client_secret", sim.client_secret()),
            ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["access_token"].as_str().expect("token").to_string()
}

async fn genesys_token(sim: &GenesysSim, client: &Client) -> String {
    let (status, body) = send(
        client
            .post(format!("{}/oauth/token", sim.url()))
            .basic_auth(sim.client_id(), Some(sim.client_secret()))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["access_token"].as_str().expect("token").to_string()
}

/// Creates `count` Salesforce contacts in one Collections request; returns their ids.
async fn create_in_one_request(sim: &SalesforceSim, count: usize) -> Vec<String> {
    let client = Client::new();
    let token = salesforce_token(sim, &client).await;
    let records: Vec<Value> = (0..count)
        .map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("Person{i}")}))
        .collect();
    let (status, results) = send(
        client
            .post(format!("{}{SF_API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"allOrNone": false, "records": records})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    results
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["id"].as_str().expect("created").to_string())
        .collect()
}

fn stamps_of(sim: &SalesforceSim, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            let record = sim.get(id).expect("record");
            assert_eq!(
                record["SystemModstamp"], record["LastModifiedDate"],
                "a user write moves both stamps"
            );
            record["SystemModstamp"]
                .as_str()
                .expect("stamp")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn strict_salesforce_stamps_whole_seconds_shared_by_unrelated_writes() {
    // GIVEN a strict Salesforce org
    let config = SalesforceSimConfig::for_profile(Profile::Strict);
    assert_eq!(config.stamps, StampResolution::SharedSecond);
    let sim = SalesforceSim::start(config).await.expect("start");
    // WHEN ten contacts are created in one request, and a user edits an unrelated one
    let mut ids = create_in_one_request(&sim, 10).await;
    let other = sim.insert(json!({"LastName": "Unrelated"}));
    sim.edit(&other, json!({"Title": "Edited"}));
    ids.push(other);
    // THEN every stamp is a whole second, and the eleven writes share at most two seconds
    // (one request takes far less than a second, but may cross a second boundary)
    let stamps = stamps_of(&sim, &ids);
    for stamp in &stamps {
        assert!(stamp.ends_with(".000+0000"), "not a whole second: {stamp}");
    }
    let mut distinct = stamps.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() <= 2,
        "eleven writes within one request got {} stamps",
        distinct.len()
    );
    // AND the stamps never go back in write order
    let mut in_order = stamps.clone();
    in_order.sort();
    assert_eq!(in_order, stamps);
}

#[tokio::test]
async fn lenient_salesforce_stamps_are_unique_milliseconds() {
    // GIVEN a lenient Salesforce org
    let sim = SalesforceSim::start(SalesforceSimConfig::for_profile(Profile::Lenient))
        .await
        .expect("start");
    // WHEN ten contacts are created in one request
    let ids = create_in_one_request(&sim, 10).await;
    // THEN every write has a stamp of its own, strictly increasing in write order
    let stamps = stamps_of(&sim, &ids);
    assert!(stamps.windows(2).all(|pair| pair[0] < pair[1]));
}

#[tokio::test]
async fn strict_salesforce_pages_queries_at_200_even_when_2000_are_asked_for() {
    // GIVEN a strict Salesforce org with 250 contacts
    let sim = SalesforceSim::start(SalesforceSimConfig::for_profile(Profile::Strict))
        .await
        .expect("start");
    for i in 0..250 {
        sim.insert(json!({"LastName": format!("Person{i}")}));
    }
    let client = Client::new();
    let token = salesforce_token(&sim, &client).await;
    // WHEN querying with the largest batch size the header allows
    let (status, page) = send(
        client
            .get(format!("{}{SF_API}/query", sim.url()))
            .query(&[("q", "SELECT Id FROM Contact ORDER BY Id")])
            .header("Sforce-Query-Options", "batchSize=2000")
            .bearer_auth(&token),
    )
    .await;
    // THEN the first page holds 200 records and says there is more
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["records"].as_array().map(Vec::len), Some(200));
    assert_eq!(page["done"], false);
    assert_eq!(page["totalSize"], 250);
}

#[tokio::test]
async fn a_no_op_genesys_write_moves_modify_date_unless_configured_to_keep_it() {
    for no_op in [NoOpWrite::MovesStamp, NoOpWrite::KeepsStamp] {
        // GIVEN a strict Genesys org (or one configured to keep the stamp) and a contact
        let sim = GenesysSim::start(GenesysSimConfig {
            no_op_write: no_op,
            ..GenesysSimConfig::for_profile(Profile::Strict)
        })
        .await
        .expect("start");
        let client = Client::new();
        let token = genesys_token(&sim, &client).await;
        let id = sim.insert(json!({"firstName": "Zoë", "lastName": "O'Brien"}));
        let before = sim.get(&id).expect("contact");
        let url = format!("{}{GC_API}/contacts/{id}", sim.url());
        // WHEN the same contact is written back unchanged, by PUT and by bulk update
        let (status, after_put) = send(client.put(&url).bearer_auth(&token).json(&before)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, bulk) = send(
            client
                .post(format!("{}{GC_API}/bulk/contacts/update", sim.url()))
                .bearer_auth(&token)
                .json(&json!({"entities": [after_put.clone()]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let after_bulk = &bulk["results"][0]["entity"];
        // THEN modifyDate moved each time when the profile says so, and stayed otherwise;
        // nothing else changed
        let dates = [
            before["modifyDate"].as_str().expect("date"),
            after_put["modifyDate"].as_str().expect("date"),
            after_bulk["modifyDate"].as_str().expect("date"),
        ];
        match no_op {
            NoOpWrite::MovesStamp => assert!(dates[0] < dates[1] && dates[1] < dates[2]),
            NoOpWrite::KeepsStamp => assert!(dates[0] == dates[1] && dates[1] == dates[2]),
        }
        let without_date = |contact: &Value| {
            let mut contact = contact.clone();
            contact.as_object_mut().map(|c| c.remove("modifyDate"));
            contact
        };
        assert_eq!(without_date(&before), without_date(after_bulk));
        // AND a write that changes something moves modifyDate in either case
        sim.edit(&id, json!({"title": "Buyer"}));
        let edited = sim.get(&id).expect("contact");
        assert!(edited["modifyDate"].as_str().expect("date") > dates[2]);
    }
}

/// The ids of a bulk answer's results, in answer order (`None` where a result has no id).
fn result_ids(answer: &Value) -> Vec<Option<String>> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn strict_genesys_bulk_results_are_shuffled_but_every_entity_answered_once() {
    // GIVEN a strict Genesys org
    let config = GenesysSimConfig::for_profile(Profile::Strict);
    assert!(matches!(
        config.bulk_result_order,
        ResultOrder::Shuffled { .. }
    ));
    let sim = GenesysSim::start(config).await.expect("start");
    let client = Client::new();
    let token = genesys_token(&sim, &client).await;
    let bulk = |op: &str| format!("{}{GC_API}/bulk/contacts{op}", sim.url());

    // WHEN 30 contacts are added in one request, the 8th with an email the API refuses
    let mut entities: Vec<Value> = (0..30)
        .map(|i| json!({"firstName": format!("P{i:02}"), "lastName": "Bulk"}))
        .collect();
    entities[7]["workEmail"] = json!("not-an-email");
    let (status, added) = send(
        client
            .post(bulk("/add"))
            .bearer_auth(&token)
            .json(&json!({ "entities": entities })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // THEN there is one result per entity, in neither request nor reversed order, each
    // created contact once, and errorIndexes point at the one failure where it landed
    let results = added["results"].as_array().expect("results");
    assert_eq!(results.len(), 30);
    let names: Vec<String> = results
        .iter()
        .map(|r| {
            let entity = if r["success"] == true {
                &r["entity"]
            } else {
                &r["error"]["entity"]
            };
            entity["firstName"].as_str().expect("name").to_string()
        })
        .collect();
    let requested: Vec<String> = (0..30).map(|i| format!("P{i:02}")).collect();
    let mut reversed = requested.clone();
    reversed.reverse();
    assert_ne!(names, requested);
    assert_ne!(names, reversed);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, requested);
    let failed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r["success"] != true)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(added["errorIndexes"], json!(failed));
    assert_eq!(names[failed[0]], "P07");
    let created: Vec<String> = result_ids(&added).into_iter().flatten().collect();
    assert_eq!(created.len(), 29);

    // WHEN the created contacts are fetched, updated and removed in bulk, in creation order
    let mut ordered = created.clone();
    ordered.sort();
    let ids: Vec<Value> = ordered.iter().map(|id| json!({ "id": id })).collect();
    let (_, fetched) = send(
        client
            .post(bulk(""))
            .bearer_auth(&token)
            .json(&json!({ "entities": ids })),
    )
    .await;
    let updates: Vec<Value> = ordered
        .iter()
        .map(|id| json!({"id": id, "lastName": "Updated"}))
        .collect();
    let (_, updated) = send(
        client
            .post(bulk("/update"))
            .bearer_auth(&token)
            .json(&json!({ "entities": updates })),
    )
    .await;
    let (_, removed) = send(
        client
            .post(bulk("/remove"))
            .bearer_auth(&token)
            .json(&json!({ "entities": ids })),
    )
    .await;

    // THEN each answer holds every id exactly once, not in request order, all successful
    for answer in [&fetched, &updated, &removed] {
        let answered: Vec<String> = result_ids(answer).into_iter().flatten().collect();
        assert_ne!(answered, ordered, "results came back in request order");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &answered {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        assert_eq!(counts.len(), ordered.len());
        assert!(counts.values().all(|count| *count == 1));
        assert_eq!(answer["errorCount"], 0);
    }
    assert!(sim.all().is_empty());
}

#[tokio::test]
async fn strict_genesys_scan_pages_hold_fewer_than_the_limit_and_still_cover_everything() {
    // GIVEN a strict Genesys org with 25 contacts
    let sim = GenesysSim::start(GenesysSimConfig::for_profile(Profile::Strict))
        .await
        .expect("start");
    for i in 0..25 {
        sim.insert(json!({"lastName": format!("Scan{i}")}));
    }
    let client = Client::new();
    let token = genesys_token(&sim, &client).await;
    // WHEN scanning with limit=200, following cursors.after
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "200".to_string())];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let (status, page) = send(
            client
                .get(format!("{}{GC_API}/scan/contacts", sim.url()))
                .query(&query)
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let entities = page["entities"].as_array().expect("entities");
        sizes.push(entities.len());
        seen.extend(entities.iter().map(|c| c["id"].clone()));
        match page["cursors"]["after"].as_str() {
            Some(after) => cursor = Some(after.to_string()),
            None => break,
        }
    }
    // THEN pages hold 10, 10, 5, and every contact is seen once
    assert_eq!(sizes, vec![10, 10, 5]);
    let all: Vec<Value> = sim.all().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(seen, all);
}
