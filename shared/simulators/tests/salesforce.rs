//! The fake Salesforce org over HTTP, as the connectors will use it.

use contact_sync_simulators::{Fault, Profile, SalesforceSim, SalesforceSimConfig};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const API: &str = "/services/data/v62.0";

async fn start(config: SalesforceSimConfig) -> (SalesforceSim, Client, String) {
    let sim = SalesforceSim::start(config)
        .await
        .expect("simulator starts");
    let client = Client::new();
    let token = login(&sim, &client).await;
    (sim, client, token)
}

async fn login(sim: &SalesforceSim, client: &Client) -> String {
    let response = client
        .post(format!("{}/services/oauth2/token", sim.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sim.client_id()),
            ("client_secret", sim.client_secret()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

async fn query(
    sim: &SalesforceSim,
    client: &Client,
    token: &str,
    soql: &str,
) -> (StatusCode, Value) {
    let response = client
        .get(format!("{}{API}/query", sim.url()))
        .query(&[("q", soql)])
        .bearer_auth(token)
        .send()
        .await
        .expect("query");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// These tests pin the lenient profile (the strict one has tests of its own, `profile.rs`).
fn default_sim() -> SalesforceSimConfig {
    SalesforceSimConfig::for_profile(Profile::Lenient)
}

#[tokio::test]
async fn token_endpoint_accepts_form_and_basic_credentials_and_rejects_others() {
    // GIVEN a running org
    let sim = SalesforceSim::start(default_sim()).await.expect("start");
    let client = Client::new();
    let token_url = format!("{}/services/oauth2/token", sim.url());
    // WHEN asking for tokens with form credentials, Basic credentials, bad ones and a bad grant
    let (form_status, form) = send(client.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "sandbox-sf-client"),
        ("client_secret", "sandbox-sf-secret"),
    ]))
    .await;
    let (basic_status, _) = send(
        client
            .post(&token_url)
            .basic_auth(sim.client_id(), Some(sim.client_secret()))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    let (bad_status, bad) = send(client.post(&token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "sandbox-sf-client"),
        ("client_secret", "wrong"),
    ]))
    .await;
    let (grant_status, grant) =
        send(client.post(&token_url).form(&[("grant_type", "password")])).await;
    // THEN the good ones get the real token shape and the bad ones the OAuth error object
    assert_eq!(form_status, StatusCode::OK);
    assert_eq!(form["instance_url"], json!(sim.url()));
    assert_eq!(form["token_type"], "Bearer");
    assert!(
        form["issued_at"]
            .as_str()
            .is_some_and(|t| t.parse::<i64>().is_ok())
    );
    for key in ["access_token", "id", "signature", "scope"] {
        assert!(form[key].is_string(), "{key} missing");
    }
    assert_eq!(basic_status, StatusCode::OK);
    assert_eq!(bad_status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad,
        json!({"error": "invalid_client", "error_description": "invalid client credentials"})
    );
    assert_eq!(grant_status, StatusCode::BAD_REQUEST);
    assert_eq!(grant["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn api_calls_need_a_live_token_and_report_usage() {
    // GIVEN an org with a tiny daily limit and a token
    let (sim, client, token) = start(SalesforceSimConfig {
        daily_api_limit: 2,
        ..default_sim()
    })
    .await;
    // WHEN calling without a token, then three times with it
    let no_token = client
        .get(format!("{}{API}/query?q=SELECT+Id+FROM+Contact", sim.url()))
        .send()
        .await
        .expect("call");
    let mut usages = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = client
            .get(format!("{}{API}/query?q=SELECT+Id+FROM+Contact", sim.url()))
            .bearer_auth(&token)
            .send()
            .await
            .expect("call");
        statuses.push(response.status());
        usages.push(
            response.headers()["sforce-limit-info"]
                .to_str()
                .expect("ascii")
                .to_string(),
        );
        let _ = response.bytes().await;
    }
    // THEN the first is 401, then usage counts up to the limit and the third is 403
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let body: Value = no_token.json().await.expect("json");
    assert_eq!(
        body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    assert_eq!(
        statuses,
        vec![StatusCode::OK, StatusCode::OK, StatusCode::FORBIDDEN]
    );
    assert_eq!(
        usages,
        vec!["api-usage=1/2", "api-usage=2/2", "api-usage=3/2"]
    );
}

#[tokio::test]
async fn expired_tokens_get_invalid_session_until_a_new_login() {
    // GIVEN a logged-in client
    let (sim, client, token) = start(default_sim()).await;
    // WHEN every token is expired
    sim.inject(Fault::ExpireTokens);
    let (status, body) = query(&sim, &client, &token, "SELECT Id FROM Contact").await;
    let fresh = login(&sim, &client).await;
    let (fresh_status, _) = query(&sim, &client, &fresh, "SELECT Id FROM Contact").await;
    // THEN the old token gets 401 INVALID_SESSION_ID and a new one works
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    assert_eq!(fresh_status, StatusCode::OK);
}

#[tokio::test]
async fn query_pages_with_next_records_url_over_a_snapshot() {
    // GIVEN 7 contacts and a batch size of 3
    let (sim, client, token) = start(SalesforceSimConfig {
        query_batch_size: 3,
        ..default_sim()
    })
    .await;
    let ids: Vec<String> = (0..7)
        .map(|i| {
            sim.insert(
                json!({"LastName": format!("Person{i}"), "Email": format!("p{i}@example.com")}),
            )
        })
        .collect();
    // WHEN querying and following nextRecordsUrl (a contact is added in between)
    let (status, first) = query(
        &sim,
        &client,
        &token,
        "SELECT Id, Email, Title FROM Contact ORDER BY Id",
    )
    .await;
    sim.insert(json!({"LastName": "Late"}));
    let mut pages = vec![first.clone()];
    while let Some(next) = pages
        .last()
        .and_then(|page| page["nextRecordsUrl"].as_str())
        .map(str::to_string)
    {
        let (_, page) = send(
            client
                .get(format!("{}{next}", sim.url()))
                .bearer_auth(&token),
        )
        .await;
        pages.push(page);
    }
    // THEN pages are 3+3+1 of the snapshot, with the real shape
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["totalSize"], 7);
    assert_eq!(first["done"], false);
    let next = first["nextRecordsUrl"].as_str().expect("next url");
    assert!(
        next.starts_with("/services/data/v62.0/query/01g") && next.ends_with("-3"),
        "{next}"
    );
    let sizes: Vec<usize> = pages
        .iter()
        .map(|p| p["records"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let last = pages.last().expect("a page");
    assert_eq!(last["done"], true);
    assert!(last.get("nextRecordsUrl").is_none());
    let record = &first["records"][0];
    assert_eq!(record["attributes"]["type"], "Contact");
    assert_eq!(
        record["attributes"]["url"],
        json!(format!("/services/data/v62.0/sobjects/Contact/{}", ids[0]))
    );
    assert_eq!(record["Title"], Value::Null);
    assert_eq!(record["Email"], "p0@example.com");
    let seen: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["records"].as_array().into_iter().flatten())
        .filter_map(|r| r["Id"].as_str())
        .collect();
    assert_eq!(seen, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn watermark_query_and_query_all_see_the_right_rows() {
    // GIVEN three contacts, one edited after a watermark and one deleted
    let (sim, client, token) = start(default_sim()).await;
    let a = sim.insert(json!({"LastName": "A", "Email": "Ana.Lopez@Example.com"}));
    let b = sim.insert(json!({"LastName": "B"}));
    let c = sim.insert(json!({"LastName": "C"}));
    let watermark = sim.get(&c).expect("c")["SystemModstamp"]
        .as_str()
        .expect("stamp")
        .to_string();
    sim.edit(&a, json!({"Title": "CEO"}));
    sim.delete(&b);
    let soql_stamp = watermark.replace("+0000", "Z");
    // WHEN running the incremental query with query and queryAll, and a case-insensitive match
    let incremental = format!(
        "SELECT Id, IsDeleted FROM Contact WHERE SystemModstamp > {soql_stamp} ORDER BY SystemModstamp, Id"
    );
    let (_, live) = query(&sim, &client, &token, &incremental).await;
    let (_, all) = send(
        client
            .get(format!("{}{API}/queryAll", sim.url()))
            .query(&[("q", &incremental)])
            .bearer_auth(&token),
    )
    .await;
    let (_, by_email) = query(
        &sim,
        &client,
        &token,
        "SELECT Id FROM Contact WHERE Email IN ('ana.lopez@example.com')",
    )
    .await;
    // THEN query sees the edit only; queryAll also sees the delete, in stamp order
    let ids = |page: &Value| {
        page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Id"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&live), vec![a.clone()]);
    assert_eq!(ids(&all), vec![a.clone(), b.clone()]);
    assert_eq!(all["records"][1]["IsDeleted"], true);
    assert_eq!(ids(&by_email), vec![a]);
}

#[tokio::test]
async fn bad_queries_get_the_real_error_arrays() {
    // GIVEN a logged-in client
    let (sim, client, token) = start(default_sim()).await;
    // WHEN sending an unknown field and broken syntax
    let (unknown_status, unknown) =
        query(&sim, &client, &token, "SELECT Id, Nickname FROM Contact").await;
    let (syntax_status, syntax) = query(
        &sim,
        &client,
        &token,
        "SELECT Id FROM Contact WHERE (LastName = 'x'",
    )
    .await;
    // THEN both are 400 with errorCode INVALID_FIELD / MALFORMED_QUERY
    assert_eq!(unknown_status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown[0]["errorCode"], "INVALID_FIELD");
    assert!(
        unknown[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("No such column 'Nickname' on entity 'Contact'"))
    );
    assert_eq!(syntax_status, StatusCode::BAD_REQUEST);
    assert_eq!(syntax[0]["errorCode"], "MALFORMED_QUERY");
}

#[tokio::test]
async fn collection_create_reports_per_record_results_in_order() {
    // GIVEN a logged-in client
    let (sim, client, token) = start(default_sim()).await;
    let url = format!("{}{API}/composite/sobjects", sim.url());
    // WHEN creating a good record, one without LastName, one with a bad email and one with an unknown field
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "LastName": "Good", "Phone": "(415) 555-0100"},
        {"attributes": {"type": "Contact"}, "FirstName": "NoLast"},
        {"attributes": {"type": "Contact"}, "LastName": "Bad", "Email": "not-an-email"},
        {"attributes": {"type": "Contact"}, "LastName": "Odd", "Nickname": "x"},
    ]});
    let (status, results) = send(client.post(&url).bearer_auth(&token).json(&body)).await;
    // THEN the response is 200 with one result per record, in order, and only the good one exists
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[0]["errors"], json!([]));
    let id = results[0]["id"].as_str().expect("id");
    assert_eq!(id.len(), 18);
    assert_eq!(results[1]["success"], false);
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert_eq!(results[1]["errors"][0]["fields"], json!(["LastName"]));
    assert_eq!(
        results[2]["errors"][0]["statusCode"],
        "INVALID_EMAIL_ADDRESS"
    );
    assert_eq!(results[3]["errors"][0]["statusCode"], "INVALID_FIELD");
    assert_eq!(sim.all().len(), 1);
    assert_eq!(sim.get(id).expect("created")["Phone"], "(415) 555-0100");
}

#[tokio::test]
async fn all_or_none_rolls_everything_back() {
    // GIVEN an existing contact
    let (sim, client, token) = start(default_sim()).await;
    let existing = sim.insert(json!({"LastName": "Keep", "Title": "Old"}));
    let before = sim.get(&existing).expect("record");
    // WHEN updating it together with an invalid record under allOrNone
    let body = json!({"allOrNone": true, "records": [
        {"attributes": {"type": "Contact"}, "id": existing, "Title": "New"},
        {"attributes": {"type": "Contact"}, "Id": existing, "LastName": null},
    ]});
    let (status, results) = send(
        client
            .patch(format!("{}{API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    // THEN nothing is written and the valid record says ALL_OR_NONE_OPERATION_ROLLED_BACK
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert_eq!(sim.get(&existing), Some(before));
}

#[tokio::test]
async fn updates_bump_stamps_only_for_written_records_and_null_clears() {
    // GIVEN two contacts, one of them deleted
    let (sim, client, token) = start(default_sim()).await;
    let live = sim.insert(json!({"LastName": "Live", "Title": "T", "MobilePhone": "415-555-0150"}));
    let gone = sim.insert(json!({"LastName": "Gone"}));
    sim.delete(&gone);
    let live_before = sim.get(&live).expect("live");
    let gone_before = sim.get(&gone).expect("gone");
    // WHEN updating both (one clearing a field)
    let body = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "id": live, "MobilePhone": null, "Title": "CTO"},
        {"attributes": {"type": "Contact"}, "id": gone, "Title": "x"},
    ]});
    let (_, results) = send(
        client
            .patch(format!("{}{API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    // THEN the live one is updated with newer stamps; the deleted one fails untouched
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["errors"][0]["statusCode"], "ENTITY_IS_DELETED");
    let live_after = sim.get(&live).expect("live");
    assert_eq!(live_after["MobilePhone"], Value::Null);
    assert_eq!(live_after["Title"], "CTO");
    assert!(live_after["SystemModstamp"].as_str() > live_before["SystemModstamp"].as_str());
    assert_eq!(live_after["LastModifiedDate"], live_after["SystemModstamp"]);
    assert_eq!(live_after["CreatedDate"], live_before["CreatedDate"]);
    assert_eq!(sim.get(&gone), Some(gone_before));
}

#[tokio::test]
async fn collection_delete_soft_deletes_and_limits_ids() {
    // GIVEN two contacts
    let (sim, client, token) = start(default_sim()).await;
    let a = sim.insert(json!({"LastName": "A"}));
    let b = sim.insert(json!({"LastName": "B"}));
    let url = format!("{}{API}/composite/sobjects", sim.url());
    // WHEN deleting them plus a malformed id, then sending no ids and 201 ids
    let (status, results) = send(
        client
            .delete(&url)
            .query(&[
                ("ids", format!("{a},{b},003bogus")),
                ("allOrNone", "false".into()),
            ])
            .bearer_auth(&token),
    )
    .await;
    let (none_status, none) = send(client.delete(&url).bearer_auth(&token)).await;
    let many = vec![a.clone(); 201].join(",");
    let (many_status, many_body) = send(
        client
            .delete(&url)
            .query(&[("ids", many)])
            .bearer_auth(&token),
    )
    .await;
    // THEN the two are soft-deleted, the bad id fails, and the request-level errors are 400 arrays
    assert_eq!(status, StatusCode::OK);
    assert_eq!(results[0], json!({"id": a, "success": true, "errors": []}));
    assert_eq!(results[2]["errors"][0]["statusCode"], "MALFORMED_ID");
    assert!(sim.all().is_empty());
    assert_eq!(sim.get(&a).expect("kept")["IsDeleted"], true);
    assert_eq!(none_status, StatusCode::BAD_REQUEST);
    assert_eq!(none[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(many_status, StatusCode::BAD_REQUEST);
    assert!(many_body[0]["errorCode"].is_string());
}

#[tokio::test]
async fn more_than_200_records_is_a_400() {
    // GIVEN 201 records
    let (sim, client, token) = start(default_sim()).await;
    let records: Vec<Value> = (0..201)
        .map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("P{i}")}))
        .collect();
    // WHEN creating them in one collection call
    let (status, body) = send(
        client
            .post(format!("{}{API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"records": records})),
    )
    .await;
    // THEN the request is refused with the error array shape and nothing is written
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body[0]["message"].is_string() && body[0]["errorCode"].is_string());
    assert!(sim.all().is_empty());
}

#[tokio::test]
async fn injected_faults_fire_then_clear() {
    // GIVEN a 429 and a 503 fault on queries, a delay, and a rejected record
    let (sim, client, token) = start(default_sim()).await;
    let rejected = sim.insert(json!({"LastName": "Rejected"}));
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(7),
    });
    sim.inject(Fault::Status {
        path_contains: "/query".into(),
        status: 503,
        times: 1,
        retry_after_secs: None,
    });
    sim.inject(Fault::Delay {
        path_contains: "/composite".into(),
        millis: 150,
        times: 1,
    });
    sim.inject(Fault::RejectRecord {
        id: rejected.clone(),
    });
    // WHEN querying three times and updating the rejected record
    let url = format!("{}{API}/query?q=SELECT+Id+FROM+Contact", sim.url());
    let first = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("call");
    let retry_after = first
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let first_status = first.status();
    let (second_status, second) = send(client.get(&url).bearer_auth(&token)).await;
    let (third_status, _) = send(client.get(&url).bearer_auth(&token)).await;
    let started = std::time::Instant::now();
    let (_, results) = send(client.patch(format!("{}{API}/composite/sobjects", sim.url())).bearer_auth(&token).json(&json!({"records": [{"attributes": {"type": "Contact"}, "id": rejected, "Title": "x"}]}))).await;
    // THEN 429 (Retry-After 7), 503, then OK; the update was delayed and rejected per record
    assert_eq!(first_status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("7"));
    assert_eq!(second_status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(second[0]["errorCode"].is_string());
    assert_eq!(third_status, StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
}

#[tokio::test]
async fn counters_classify_requests() {
    // GIVEN a fresh org with counters reset after login
    let (sim, client, token) = start(default_sim()).await;
    let id = sim.insert(json!({"LastName": "A"}));
    // WHEN making one query, one collection update of two records and one token request
    query(&sim, &client, &token, "SELECT Id FROM Contact").await;
    send(
        client
            .patch(format!("{}{API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"records": [
                {"attributes": {"type": "Contact"}, "id": id, "Title": "x"},
                {"attributes": {"type": "Contact"}, "id": id, "Title": "y"},
            ]})),
    )
    .await;
    let counters = sim.counters();
    sim.reset_counters();
    // THEN each is counted by kind and route, and reset empties them
    assert_eq!(counters.total, 3);
    assert_eq!(counters.auth, 1);
    assert_eq!(counters.reads, 1);
    assert_eq!(counters.writes, 1);
    assert_eq!(counters.records_written, 2);
    assert_eq!(counters.by_route.get("GET /query"), Some(&1));
    assert_eq!(counters.by_route.get("PATCH /composite/sobjects"), Some(&1));
    assert_eq!(sim.counters(), Default::default());
}

#[tokio::test]
async fn clock_offset_skews_stamps_but_keeps_them_increasing() {
    // GIVEN an org whose clock is moved a day back after a first insert
    let sim = SalesforceSim::start(default_sim()).await.expect("start");
    let first = sim.insert(json!({"LastName": "First"}));
    sim.set_clock_offset(chrono::Duration::days(-1));
    // WHEN inserting again
    let second = sim.insert(json!({"LastName": "Second"}));
    // THEN the second stamp is still later (by 1 ms), in the API's datetime format
    let stamp = |id: &str| {
        sim.get(id).expect("record")["SystemModstamp"]
            .as_str()
            .expect("stamp")
            .to_string()
    };
    assert!(stamp(&second) > stamp(&first));
    assert!(stamp(&first).ends_with("+0000") && stamp(&first).len() == 28);
}

#[tokio::test]
async fn single_record_calls_work() {
    // GIVEN a contact
    let (sim, client, token) = start(default_sim()).await;
    let id = sim.insert(json!({"LastName": "Solo", "Custom_Tag__c": "x"}));
    let url = format!("{}{API}/sobjects/Contact/{id}", sim.url());
    // WHEN reading it, patching it, and patching with a stale If-Unmodified-Since
    let (get_status, record) = send(client.get(&url).bearer_auth(&token)).await;
    let (patch_status, _) = send(
        client
            .patch(&url)
            .bearer_auth(&token)
            .json(&json!({"Title": "Boss"})),
    )
    .await;
    let (stale_status, _) = send(
        client
            .patch(&url)
            .bearer_auth(&token)
            .header("If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")
            .json(&json!({"Title": "x"})),
    )
    .await;
    // THEN GET returns the record, PATCH 204, the stale PATCH 412
    assert_eq!(get_status, StatusCode::OK);
    assert_eq!(record["Id"], json!(id));
    assert_eq!(record["Custom_Tag__c"], "x");
    assert_eq!(patch_status, StatusCode::NO_CONTENT);
    assert_eq!(stale_status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(sim.get(&id).expect("record")["Title"], "Boss");
}

#[tokio::test]
async fn describe_lists_contact_fields_with_write_access() {
    // GIVEN an org where a custom field was written and Title is read-only for the user
    let (sim, client, token) = start(default_sim()).await;
    sim.insert(json!({"LastName": "Lopez", "Score__c": "7"}));
    sim.set_field_read_only("Title");

    // WHEN the Contact object is described
    let (status, body) = send(
        client
            .get(format!("{}{API}/sobjects/Contact/describe", sim.url()))
            .bearer_auth(&token),
    )
    .await;

    // THEN every field is listed with its access, and the call is a counted read
    assert_eq!(status, StatusCode::OK);
    let field = |name: &str| {
        body["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(field("Email")["type"], "email");
    assert_eq!(field("Email")["updateable"], true);
    assert_eq!(field("Id")["updateable"], false);
    assert_eq!(field("Title")["updateable"], false);
    assert_eq!(field("Score__c")["custom"], true);
    assert_eq!(field("Nope__c"), Value::Null);
    assert_eq!(
        sim.counters()
            .by_route
            .get("GET /sobjects/Contact/describe"),
        Some(&1)
    );
    // AND a write of the read-only field is refused
    let (status, _) = send(
        client
            .post(format!("{}{API}/sobjects/Contact", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"LastName": "Ng", "Title": "Boss"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_collection_record_cap_is_a_knob_and_a_request_over_it_is_refused_whole() {
    // GIVEN an org whose Collections take at most 50 records
    let (sim, client, token) = start(SalesforceSimConfig {
        max_collection_records: 50,
        ..default_sim()
    })
    .await;
    let records = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"attributes": {"type": "Contact"}, "LastName": format!("P{i}")}))
            .collect()
    };
    let create = |records: Vec<Value>| {
        client
            .post(format!("{}{API}/composite/sobjects", sim.url()))
            .bearer_auth(&token)
            .json(&json!({"allOrNone": false, "records": records}))
    };
    // WHEN 51 records are created in one call, then 50
    let (over_status, over) = send(create(records(51))).await;
    let (at_status, at) = send(create(records(50))).await;
    // THEN the first is refused whole with EXCEEDED_ID_LIMIT (no SaveResults), the second
    // is processed
    assert_eq!(over_status, StatusCode::BAD_REQUEST);
    assert_eq!(over[0]["errorCode"], "EXCEEDED_ID_LIMIT");
    assert_eq!(at_status, StatusCode::OK);
    assert_eq!(at.as_array().map(Vec::len), Some(50));
    assert_eq!(sim.all().len(), 50);
    assert_eq!(sim.counters().over_record_cap, 1);
}
