//! `GET .../sobjects/Contact/describe`: the Contact object's fields with their type and
//! whether the integration user may create and update them (API-NOTES A.1; the shape is the
//! `DescribeSObjectResult` subset a client checks: `name`, `fields[].name/type/label/length/
//! createable/updateable/nillable`).

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::contact::{FieldType, field_label, max_length};
use super::{Org, address_picklists};

pub(crate) fn contact(org: &Org) -> Response {
    let state = org.lock();
    let fields: Vec<Value> = state
        .contacts
        .fields()
        .into_iter()
        .map(|field| {
            let kind = match (field.kind, field.name.as_str()) {
                (FieldType::Id, "Id") => "id",
                (FieldType::Id, _) => "reference",
                (FieldType::Boolean, _) => "boolean",
                (FieldType::DateTime, _) => "datetime",
                (_, "Email") => "email",
                (_, "Phone" | "MobilePhone") => "phone",
                (_, "MailingStreet") => "textarea",
                (_, address_picklists::COUNTRY_CODE | address_picklists::STATE_CODE) => "picklist",
                _ => "string",
            };
            let picklist_values = match field.name.as_str() {
                address_picklists::COUNTRY_CODE => address_picklists::country_values(),
                // Dependent on the country (its `validFor` bitmaps are not simulated).
                _ => Vec::new(),
            };
            json!({
                "picklistValues": picklist_values,
                "name": field.name,
                "type": kind,
                "label": field_label(&field.name),
                "length": max_length(&field.name).unwrap_or(0),
                "createable": field.writable,
                "updateable": field.writable,
                "nillable": field.name != "LastName" && field.writable,
                "custom": field.kind == FieldType::Custom,
            })
        })
        .collect();
    Json(json!({
        "name": "Contact",
        "label": "Contact",
        "queryable": true,
        "createable": true,
        "updateable": true,
        "deletable": true,
        "fields": fields,
    }))
    .into_response()
}
