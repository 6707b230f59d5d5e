//! External sources (`/api/v2/externalcontacts/externalsources`): named systems that
//! `externalIds` point to. Names are unique.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::entity_id::EntityIds;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ExternalSources {
    sources: Vec<Map<String, Value>>,
    ids: EntityIds,
}

impl Default for ExternalSources {
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            ids: EntityIds::seeded(0x6e6e_7973_6573_0002),
        }
    }
}

/// Why a source cannot be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceProblem {
    NameMissing,
    NameTooLong,
    DuplicateName,
    BadField(String),
}

impl SourceProblem {
    pub(crate) fn message(&self) -> String {
        match self {
            SourceProblem::NameMissing => "name is required".into(),
            SourceProblem::NameTooLong => "name must be at most 200 characters".into(),
            SourceProblem::DuplicateName => {
                "An external source with this name already exists".into()
            }
            SourceProblem::BadField(field) => format!("Invalid value for field '{field}'"),
        }
    }
}

impl ExternalSources {
    pub(crate) fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.sources
            .iter()
            .find(|source| source.get("id").and_then(Value::as_str) == Some(id))
    }

    /// Every source in creation order.
    pub(crate) fn all(&self) -> &[Map<String, Value>] {
        &self.sources
    }

    /// Create a source from an ExternalSource body `{name, active?, linkConfiguration?}`.
    pub(crate) fn create(
        &mut self,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>, SourceProblem> {
        let name = match body.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(SourceProblem::NameMissing);
            }
            Some(_) => return Err(SourceProblem::BadField("name".into())),
        };
        if name.chars().count() > 200 {
            return Err(SourceProblem::NameTooLong);
        }
        let taken = self.sources.iter().any(|source| {
            source
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|existing| existing.eq_ignore_ascii_case(&name))
        });
        if taken {
            return Err(SourceProblem::DuplicateName);
        }
        let active = match body.get("active") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(active)) => *active,
            Some(_) => return Err(SourceProblem::BadField("active".into())),
        };
        let id = self.ids.next_id();
        let mut source = json!({
            "id": id,
            "name": name,
            "active": active,
            "selfUri": format!("/api/v2/externalcontacts/externalsources/{id}"),
        });
        if let Some(link) = body
            .get("linkConfiguration")
            .filter(|link| link.is_object())
        {
            source["linkConfiguration"] = link.clone();
        }
        let source = source.as_object().cloned().unwrap_or_default();
        self.sources.push(source.clone());
        Ok(source)
    }
}
