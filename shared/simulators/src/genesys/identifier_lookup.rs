//! `POST /api/v2/externalcontacts/identifierlookup/contacts`: "Fetch a contact using an
//! identifier type and value" (API-NOTES B.1; the body is a `ContactIdentifier`
//! `{type, value, externalSource}` and the answer the `ExternalContact`, see
//! `reference/genesys/externalcontacts_schema.json`). The simulator models the `ExternalId`
//! type only (the link the sync writes); other types are refused with 400 `bad.request`.
//! No contact with the identifier: 404 `not.found` (assumed; the reference lists no error
//! answers for this operation).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Org;
use super::error_body::{bad_request, malformed_body, not_found};
use crate::http_server::IncomingRequest;

pub(crate) fn lookup(org: &Org, request: &IncomingRequest) -> Response {
    let Ok(Value::Object(identifier)) = serde_json::from_slice::<Value>(&request.body) else {
        return malformed_body();
    };
    let text = |field: &str| identifier.get(field).and_then(Value::as_str);
    let (Some(kind), Some(value)) = (text("type"), text("value")) else {
        return bad_request("The identifier requires a type and a value.");
    };
    if kind != "ExternalId" {
        return bad_request("The simulator looks up ExternalId identifiers only.");
    }
    let Some(source) = identifier
        .get("externalSource")
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
    else {
        return bad_request("An ExternalId identifier requires externalSource.id.");
    };
    let state = org.lock();
    match state.contacts.with_external_id(source, value.trim()) {
        Some(contact) => Json(Value::Object(contact.clone())).into_response(),
        None => not_found("No contact was found with the identifier."),
    }
}

#[cfg(test)]
mod tests {
    use crate::genesys::{GenesysSim, GenesysSimConfig};
    use serde_json::{Value, json};

    async fn token(sim: &GenesysSim, http: &reqwest::Client) -> String {
        let answer: Value = http
            .post(format!("{}/oauth/token", sim.url()))
            .basic_auth(sim.client_id(), Some(sim.client_secret()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token body");
        answer["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    #[tokio::test]
    async fn an_external_id_finds_the_contact_that_carries_it_and_nothing_else() {
        // GIVEN a contact linked to Salesforce record 003A under the link source, and one
        // linked to 003B under another source
        let sim = GenesysSim::start(GenesysSimConfig::default())
            .await
            .expect("sim");
        let source = sim.add_external_source("Salesforce");
        let other = sim.add_external_source("Other");
        let linked = sim.insert(json!({
            "firstName": "Ada", "lastName": "Lovelace",
            "externalIds": [{"externalSource": {"id": source}, "value": "003A00000000001AAA"}],
        }));
        sim.insert(json!({
            "firstName": "Bob", "lastName": "Other",
            "externalIds": [{"externalSource": {"id": other}, "value": "003B00000000001AAA"}],
        }));
        let http = reqwest::Client::new();
        let bearer = token(&sim, &http).await;
        let lookup = |value: &str, source: &str| {
            http.post(format!(
                "{}/api/v2/externalcontacts/identifierlookup/contacts",
                sim.url()
            ))
            .bearer_auth(&bearer)
            .json(&json!({"type": "ExternalId", "value": value, "externalSource": {"id": source}}))
            .send()
        };
        // WHEN the first link is looked up
        let found = lookup("003A00000000001AAA", &source).await.expect("lookup");
        // THEN the linked contact is the answer
        assert_eq!(found.status(), 200);
        let body: Value = found.json().await.expect("contact");
        assert_eq!(body["id"], linked.as_str());
        // WHEN an id nobody carries, or one carried under another source, is looked up
        for (value, src) in [
            ("003C00000000001AAA", source.as_str()),
            ("003B00000000001AAA", source.as_str()),
        ] {
            let missing = lookup(value, src).await.expect("lookup");
            // THEN the answer is 404 not.found
            assert_eq!(missing.status(), 404);
            let body: Value = missing.json().await.expect("error body");
            assert_eq!(body["code"], "not.found");
        }
    }
}
