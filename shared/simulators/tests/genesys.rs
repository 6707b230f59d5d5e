//! The fake Genesys Cloud org over HTTP, as the connectors will use it.

use contact_sync_simulators::{Fault, GenesysSim, GenesysSimConfig, Profile};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const API: &str = "/api/v2/externalcontacts";

async fn start(config: GenesysSimConfig) -> (GenesysSim, Client, String) {
    let sim = GenesysSim::start(config).await.expect("simulator starts");
    let client = Client::new();
    let token = login(&sim, &client).await;
    (sim, client, token)
}

async fn login(sim: &GenesysSim, client: &Client) -> String {
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

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// These tests pin the lenient profile (the strict one has tests of its own, `profile.rs`).
fn default_sim() -> GenesysSimConfig {
    GenesysSimConfig::for_profile(Profile::Lenient)
}

fn result_for<'a>(response: &'a Value, id: &str) -> &'a Value {
    response["results"]
        .as_array()
        .and_then(|results| results.iter().find(|r| r["id"] == json!(id)))
        .expect("a result for the id")
}

#[tokio::test]
async fn token_endpoint_needs_basic_client_credentials() {
    // GIVEN a running org
    let sim = GenesysSim::start(default_sim()).await.expect("start");
    let client = Client::new();
    let url = format!("{}/oauth/token", sim.url());
    // WHEN asking with good and bad Basic credentials
    let (ok_status, ok) = send(
        client
            .post(&url)
            .basic_auth("sandbox-gc-client", Some("sandbox-gc-secret"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let (bad_status, bad) = send(
        client
            .post(&url)
            .basic_auth("sandbox-gc-client", Some("nope"))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    // THEN the good one gets a bearer token and the bad one the OAuth error
    assert_eq!(ok_status, StatusCode::OK);
    assert_eq!(ok["token_type"], "bearer");
    assert_eq!(ok["expires_in"], 86400);
    assert!(ok["access_token"].is_string());
    assert_eq!(bad_status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"], "invalid_client");
    assert!(bad["description"].is_string() && bad["error_description"].is_string());
}

#[tokio::test]
async fn api_calls_without_a_valid_token_get_401_error_body() {
    // GIVEN a logged-in client whose tokens then expire
    let (sim, client, token) = start(default_sim()).await;
    let url = format!("{}{API}/scan/contacts", sim.url());
    let (missing_status, missing) = send(client.get(&url)).await;
    sim.inject(Fault::ExpireTokens);
    // WHEN calling with the expired token
    let (expired_status, expired) = send(client.get(&url).bearer_auth(&token)).await;
    // THEN both are 401 ErrorBody with code authentication.required
    for (status, body) in [(missing_status, missing), (expired_status, expired)] {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], "authentication.required");
        assert_eq!(body["status"], 401);
        assert!(body["message"].is_string() && body["contextId"].is_string());
        assert_eq!(body["details"], json!([]));
        assert_eq!(body["errors"], json!([]));
    }
}

#[tokio::test]
async fn create_fills_server_fields_normalises_phones_and_links_sources() {
    // GIVEN an external source
    let (sim, client, token) = start(default_sim()).await;
    let (source_status, source) = send(
        client
            .post(format!("{}{API}/externalsources", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"name": "Salesforce", "active": true})),
    )
    .await;
    assert_eq!(source_status, StatusCode::OK);
    let source_id = source["id"].as_str().expect("source id").to_string();
    // WHEN creating a contact with phones in several formats and an externalId
    let body = json!({
        "firstName": " Ana ", "lastName": "Lopez", "workEmail": "ana.lopez@example.com",
        "workPhone": {"display": "+14155550134", "e164": "+19999999999"},
        "cellPhone": {"display": "(415) 555-0150"},
        "externalIds": [{"externalSource": {"id": source_id}, "value": "003SM0000000001AAA"}],
    });
    let (status, contact) = send(
        client
            .post(format!("{}{API}/contacts", sim.url()))
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    // THEN the server fields are set and phones normalised like the real API
    assert_eq!(status, StatusCode::OK);
    let id = contact["id"].as_str().expect("id");
    assert!(is_uuid_v4(id));
    assert_eq!(
        contact["selfUri"],
        json!(format!("/api/v2/externalcontacts/contacts/{id}"))
    );
    assert_eq!(contact["type"], "Curated");
    assert_eq!(contact["createDate"], contact["modifyDate"]);
    assert!(
        contact["modifyDate"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z') && d.len() == 24)
    );
    assert_eq!(contact["firstName"], "Ana");
    assert_eq!(contact["workPhone"]["display"], "+1 415-555-0134");
    assert_eq!(contact["workPhone"]["e164"], "+14155550134");
    assert_eq!(contact["workPhone"]["userInput"], "+14155550134");
    // A readable national number is displayed internationally too (the reference: "If the
    // phone number can be read as E164, the value will be replaced").
    assert_eq!(contact["cellPhone"]["display"], "+1 415-555-0150");
    assert_eq!(contact["cellPhone"]["userInput"], "(415) 555-0150");
    assert_eq!(contact["cellPhone"]["e164"], "+14155550150");
    assert_eq!(
        contact["externalIds"][0]["externalSource"]["id"],
        json!(source_id)
    );
    assert_eq!(contact["externalIds"][0]["value"], "003SM0000000001AAA");
    assert_eq!(sim.get(id), Some(contact.clone()));
}

fn is_uuid_v4(id: &str) -> bool {
    id.len() == 36 && id.as_bytes().get(14) == Some(&b'4')
}

#[tokio::test]
async fn invalid_bodies_are_400_with_details() {
    // GIVEN a logged-in client
    let (sim, client, token) = start(default_sim()).await;
    let url = format!("{}{API}/contacts", sim.url());
    // WHEN creating with an invented field name, a bad email, an unknown source, or broken JSON
    let (invented_status, invented) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"lastName": "X", "email": "x@example.com"})),
    )
    .await;
    let (email_status, email) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"workEmail": "nope"})),
    )
    .await;
    let (source_status, _) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"externalIds": [{"externalSource": {"id": "missing"}, "value": "1"}]})),
    )
    .await;
    let (json_status, broken) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    // THEN each is a 400 ErrorBody and nothing is stored
    assert_eq!(invented_status, StatusCode::BAD_REQUEST);
    assert_eq!(invented["code"], "bad.request");
    assert_eq!(invented["details"][0]["fieldName"], "email");
    assert_eq!(email_status, StatusCode::BAD_REQUEST);
    assert_eq!(email["details"][0]["fieldName"], "workEmail");
    assert_eq!(source_status, StatusCode::BAD_REQUEST);
    assert_eq!(json_status, StatusCode::BAD_REQUEST);
    assert_eq!(broken["status"], 400);
    assert!(sim.all().is_empty());
}

#[tokio::test]
async fn single_contact_get_put_delete() {
    // GIVEN a contact created by an agent
    let (sim, client, token) = start(default_sim()).await;
    let id = sim.insert(json!({"firstName": "Ben", "lastName": "Carter", "title": "Buyer", "workEmail": "ben.carter@example.com"}));
    let url = format!("{}{API}/contacts/{id}", sim.url());
    let before = sim.get(&id).expect("contact");
    // WHEN replacing it without title, fetching it, deleting it, and fetching again
    let (put_status, replaced) = send(client.put(&url).bearer_auth(&token).json(&json!({"id": id, "firstName": "Ben", "lastName": "Carter", "createDate": "1999-01-01T00:00:00.000Z"}))).await;
    let (get_status, fetched) = send(client.get(&url).bearer_auth(&token)).await;
    let (delete_status, _) = send(client.delete(&url).bearer_auth(&token)).await;
    let (missing_status, missing) = send(client.get(&url).bearer_auth(&token)).await;
    // THEN PUT is a full replace that keeps server fields, and the contact is gone after DELETE
    assert_eq!(put_status, StatusCode::OK);
    assert!(replaced.get("title").is_none() && replaced.get("workEmail").is_none());
    assert_eq!(replaced["createDate"], before["createDate"]);
    assert!(replaced["modifyDate"].as_str() > before["modifyDate"].as_str());
    assert_eq!(get_status, StatusCode::OK);
    assert_eq!(fetched, replaced);
    assert_eq!(delete_status, StatusCode::OK);
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "not.found");
    assert_eq!(sim.get(&id), None);
}

#[tokio::test]
async fn scan_pages_with_cursors_in_creation_order() {
    // GIVEN 25 contacts
    let (sim, client, token) = start(default_sim()).await;
    let ids: Vec<String> = (0..25)
        .map(|i| sim.insert(json!({"lastName": format!("P{i}")})))
        .collect();
    // WHEN scanning with limit 10 and following nextUri
    let mut pages: Vec<Value> = Vec::new();
    let mut next = Some(format!("{API}/scan/contacts?limit=10"));
    while let Some(uri) = next {
        let (status, page) = send(
            client
                .get(format!("{}{uri}", sim.url()))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        next = page["nextUri"].as_str().map(str::to_string);
        pages.push(page);
    }
    let (low_status, low) = send(
        client
            .get(format!("{}{API}/scan/contacts?limit=5", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    let (high_status, _) = send(
        client
            .get(format!("{}{API}/scan/contacts?limit=201", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    // THEN 10+10+5 contacts in createDate order; the last page has no nextUri or cursors.after
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["entities"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    assert!(pages[0]["cursors"]["after"].is_string());
    assert!(
        pages[0]["selfUri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("/api/v2/externalcontacts/scan/contacts"))
    );
    let last = &pages[2];
    assert!(last.get("nextUri").is_none() && last["cursors"].get("after").is_none());
    let seen: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["entities"].as_array().into_iter().flatten())
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(low_status, StatusCode::BAD_REQUEST);
    assert_eq!(low["code"], "bad.request");
    assert_eq!(high_status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_add_update_fetch_remove_match_by_id_not_order() {
    // GIVEN two existing contacts
    let (sim, client, token) = start(default_sim()).await;
    let a = sim.insert(json!({"lastName": "A", "title": "Old"}));
    let b = sim.insert(json!({"lastName": "B"}));
    let bulk = |op: &str| format!("{}{API}/bulk/contacts{op}", sim.url());
    // WHEN bulk-adding (one invalid), bulk-updating (one unknown id), fetching and removing
    let (add_status, added) = send(client.post(bulk("/add")).bearer_auth(&token).json(
        &json!({"entities": [
            {"lastName": "New1", "workEmail": "new1@example.com"},
            {"lastName": "Bad", "workEmail": "bad"},
            {"lastName": "New2", "cellPhone": {"display": "415.555.0199"}},
        ]}),
    ))
    .await;
    let (_, updated) = send(client.post(bulk("/update")).bearer_auth(&token).json(
        &json!({"entities": [
            {"id": a, "lastName": "A", "title": "New"},
            {"id": "00000000-0000-4000-8000-000000000000", "lastName": "Ghost"},
        ]}),
    ))
    .await;
    let (_, fetched) = send(
        client
            .post(bulk(""))
            .bearer_auth(&token)
            .json(&json!({"entities": [{"id": a}, {"id": b}, {"id": "missing"}]})),
    )
    .await;
    let (_, removed) = send(
        client
            .post(bulk("/remove"))
            .bearer_auth(&token)
            .json(&json!({"entities": [{"id": b}, {"id": "missing"}]})),
    )
    .await;
    // THEN results are shuffled but complete; errors carry status, code and the input entity
    assert_eq!(add_status, StatusCode::OK);
    let add_results = added["results"].as_array().expect("results");
    assert_eq!(add_results.len(), 3);
    assert_eq!(added["errorCount"], 1);
    let failed_index = added["errorIndexes"][0].as_u64().expect("index") as usize;
    let failed = &add_results[failed_index];
    assert_eq!(failed["success"], false);
    assert_eq!(failed["status"], 400);
    assert_eq!(failed["error"]["entity"]["lastName"], "Bad");
    assert_eq!(failed["error"]["details"][0]["fieldName"], "workEmail");
    let created: Vec<&Value> = add_results
        .iter()
        .filter(|r| r["success"] == true)
        .collect();
    assert_eq!(
        created[0]["entity"]["lastName"], "New2",
        "results come back in another order"
    );
    assert_eq!(created[0]["entity"]["cellPhone"]["e164"], "+14155550199");
    assert_eq!(result_for(&updated, &a)["entity"]["title"], "New");
    let ghost = result_for(&updated, "00000000-0000-4000-8000-000000000000");
    assert_eq!(ghost["status"], 404);
    assert_eq!(ghost["error"]["code"], "not.found");
    assert_eq!(result_for(&fetched, &b)["entity"]["lastName"], "B");
    assert_eq!(result_for(&fetched, "missing")["status"], 404);
    assert_eq!(fetched["errorCount"], 1);
    assert_eq!(result_for(&removed, &b)["success"], true);
    assert_eq!(sim.get(&b), None);
    assert_eq!(sim.all().len(), 3);
}

#[tokio::test]
async fn request_size_and_entity_count_limits() {
    // GIVEN an org with a 2 KB request limit
    let (sim, client, token) = start(GenesysSimConfig {
        max_request_bytes: 2_000,
        ..default_sim()
    })
    .await;
    let big: Vec<Value> = (0..100)
        .map(|i| json!({"lastName": format!("Person number {i}")}))
        .collect();
    let many: Vec<Value> = (0..201).map(|i| json!({"id": format!("id-{i}")})).collect();
    // WHEN sending a larger bulk add, and (on a roomy org) more than 200 entities
    let (big_status, big_body) = send(
        client
            .post(format!("{}{API}/bulk/contacts/add", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"entities": big})),
    )
    .await;
    let (roomy, roomy_client, roomy_token) = start(default_sim()).await;
    let (many_status, many_body) = send(
        roomy_client
            .post(format!("{}{API}/bulk/contacts", roomy.url()))
            .bearer_auth(&roomy_token)
            .json(&json!({"entities": many})),
    )
    .await;
    // THEN the first is 413 with the documented message and the second 400 bad.request
    assert_eq!(big_status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(big_body["message"].as_str().is_some_and(|m| {
        m.starts_with("The request is over the size limit. Content-Length: ")
            && m.ends_with("Maximum bytes: 2000")
    }));
    assert_eq!(big_body["status"], 413);
    assert_eq!(many_status, StatusCode::BAD_REQUEST);
    assert_eq!(many_body["code"], "bad.request");
    assert!(sim.all().is_empty());
}

#[tokio::test]
async fn rate_limit_answers_the_normalised_429() {
    // GIVEN an org allowing 3 requests per token per minute
    let (sim, client, token) = start(GenesysSimConfig {
        rate_limit_per_minute: Some(3),
        ..default_sim()
    })
    .await;
    let url = format!("{}{API}/scan/contacts", sim.url());
    // WHEN making 4 requests
    for _ in 0..3 {
        let (status, _) = send(client.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("call");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    // THEN the 4th is the normalised 429 with a matching Retry-After
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "too.many.requests.retry.after");
    assert_eq!(
        body["message"],
        json!(format!(
            "Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds"
        ))
    );
    assert_eq!(body["status"], 429);
    assert!((1..=60).contains(&retry_after));
}

#[tokio::test]
async fn external_sources_are_unique_and_listed() {
    // GIVEN a logged-in client
    let (sim, client, token) = start(default_sim()).await;
    let url = format!("{}{API}/externalsources", sim.url());
    // WHEN creating a source twice and listing
    let (first_status, first) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"name": "Salesforce", "active": true})),
    )
    .await;
    let (dup_status, dup) = send(
        client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"name": "Salesforce", "active": true})),
    )
    .await;
    let (list_status, list) = send(client.get(&url).bearer_auth(&token)).await;
    // THEN the duplicate is a 400 and the list has one entry
    assert_eq!(first_status, StatusCode::OK);
    assert_eq!(first["name"], "Salesforce");
    assert_eq!(first["active"], true);
    assert_eq!(dup_status, StatusCode::BAD_REQUEST);
    assert_eq!(dup["code"], "bad.request");
    assert_eq!(list_status, StatusCode::OK);
    assert_eq!(list["entities"], json!([first]));
    assert!(list.get("nextUri").is_none());
    assert_eq!(sim.external_sources(), vec![first]);
}

#[tokio::test]
async fn faults_and_counters() {
    // GIVEN a contact linked to a rejected Salesforce id, and a 503 fault on bulk calls
    let (sim, client, token) = start(default_sim()).await;
    let source = sim.add_external_source("Salesforce");
    sim.inject(Fault::RejectRecord {
        id: "003SM0000000009AAA".into(),
    });
    sim.inject(Fault::Status {
        path_contains: "/bulk/".into(),
        status: 503,
        times: 1,
        retry_after_secs: Some(2),
    });
    sim.reset_counters();
    let url = format!("{}{API}/bulk/contacts/add", sim.url());
    let body = json!({"entities": [
        {"lastName": "Rejected", "externalIds": [{"externalSource": {"id": source}, "value": "003SM0000000009AAA"}]},
        {"lastName": "Fine"},
    ]});
    // WHEN adding twice (the first hits the fault)
    let (fault_status, fault) = send(client.post(&url).bearer_auth(&token).json(&body)).await;
    let (status, results) = send(client.post(&url).bearer_auth(&token).json(&body)).await;
    // THEN the first is a 503 ErrorBody, the second rejects only the linked record, and counters add up
    assert_eq!(fault_status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fault["code"], "service.unavailable");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results["errorCount"], 1);
    let counters = sim.counters();
    assert_eq!(counters.total, 2);
    assert_eq!(counters.writes, 2);
    assert_eq!(counters.records_written, 2);
    assert_eq!(counters.by_route.get("POST /bulk/contacts/add"), Some(&2));
}

#[tokio::test]
async fn user_edits_bump_modify_date_and_normalise() {
    // GIVEN a contact
    let sim = GenesysSim::start(default_sim()).await.expect("start");
    let id = sim.insert(json!({"firstName": "Hiro", "lastName": "Tanaka", "title": "Buyer"}));
    let before = sim.get(&id).expect("contact");
    sim.set_clock_offset(chrono::Duration::hours(-2));
    // WHEN an agent changes the phone and clears the title, with a clock running behind
    sim.edit(
        &id,
        json!({"workPhone": {"display": "+1 617 555 0107"}, "title": null}),
    );
    // THEN modifyDate still moves forward and the phone is normalised
    let after = sim.get(&id).expect("contact");
    assert!(after["modifyDate"].as_str() > before["modifyDate"].as_str());
    assert_eq!(after["workPhone"]["display"], "+1 617-555-0107");
    assert!(after.get("title").is_none());
    assert_eq!(sim.all(), vec![after]);
}

#[tokio::test]
async fn a_merged_contact_leaves_the_scan_and_reads_with_merged_to() {
    // GIVEN two contacts, the first merged into the second
    let (sim, client, token) = start(default_sim()).await;
    let loser = sim.insert(json!({"lastName": "Loser"}));
    let survivor = sim.insert(json!({"lastName": "Survivor"}));
    let before = sim.get(&survivor).expect("survivor")["modifyDate"].clone();
    sim.merge(&loser, &survivor);
    // WHEN the loser is read by id, and the org is scanned
    let (get_status, got) = send(
        client
            .get(format!("{}{API}/contacts/{loser}", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    let (_, scan) = send(
        client
            .get(format!("{}{API}/scan/contacts?limit=10", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    // THEN the loser answers with its own id and mergedTo naming the survivor
    assert_eq!(get_status, StatusCode::OK);
    assert_eq!(got["id"], json!(loser));
    assert_eq!(got["mergedTo"]["id"], json!(survivor));
    // AND only the survivor is scanned, with a newer modifyDate
    let scanned: Vec<&Value> = scan["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(scanned, vec![&json!(survivor)]);
    assert_ne!(sim.get(&survivor).expect("survivor")["modifyDate"], before);
}

#[tokio::test]
async fn data_schemas_are_read_by_id() {
    // GIVEN an org with one custom-field schema
    let (sim, client, token) = start(default_sim()).await;
    sim.add_data_schema("schema-1", 3, &["lead_score"]);
    // WHEN it and an unknown one are read
    let get = |id: &str| {
        client
            .get(format!("{}{API}/contacts/schemas/{id}", sim.url()))
            .bearer_auth(&token)
    };
    let (found, body) = send(get("schema-1")).await;
    let (missing, _) = send(get("schema-2")).await;
    // THEN the schema comes with its version and properties; the unknown one is 404
    assert_eq!(found, StatusCode::OK);
    assert_eq!(body["version"], 3);
    assert!(body["jsonSchema"]["properties"]["lead_score"].is_object());
    assert_eq!(missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_bulk_entity_cap_is_a_knob_and_a_request_over_it_is_refused_whole() {
    // GIVEN an org that takes at most 50 entities per bulk request
    let (sim, client, token) = start(GenesysSimConfig {
        max_bulk_entities: 50,
        ..default_sim()
    })
    .await;
    let contacts = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"lastName": format!("Person {i}")}))
            .collect()
    };
    let add = |entities: Vec<Value>| {
        client
            .post(format!("{}{API}/bulk/contacts/add", sim.url()))
            .bearer_auth(&token)
            .json(&json!({ "entities": entities }))
    };
    // WHEN 51 contacts are added in one request, then 50
    let (over_status, over) = send(add(contacts(51))).await;
    let (at_status, at) = send(add(contacts(50))).await;
    // THEN the first is refused as a whole with the Genesys error body and no per-entity
    // results, and nothing of it is created
    assert_eq!(over_status, StatusCode::BAD_REQUEST);
    assert_eq!(over["code"], "bad.request");
    assert_eq!(over["status"], 400);
    assert!(over["message"].as_str().is_some_and(|m| m.contains("50")));
    assert!(over.get("results").is_none());
    // AND the second is processed
    assert_eq!(at_status, StatusCode::OK);
    assert_eq!(at["results"].as_array().map(Vec::len), Some(50));
    assert_eq!(sim.all().len(), 50);
    assert_eq!(sim.counters().over_record_cap, 1);
}
