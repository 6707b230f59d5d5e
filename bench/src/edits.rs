//! The benchmarks' edits: titles of linked pairs spread over the org, half in each system.

use contact_sync_simulators::{GenesysSim, SalesforceSim};
use serde_json::json;

/// Title edits of distinct pairs: `(Salesforce Id, Genesys id, new title)`.
pub struct EditPlan {
    pub on_salesforce: Vec<(String, String, String)>,
    pub on_genesys: Vec<(String, String, String)>,
}

impl EditPlan {
    pub fn spread(sf: &SalesforceSim, gz: &GenesysSim, edits: usize) -> EditPlan {
        let linked: std::collections::HashMap<String, String> = gz
            .all()
            .iter()
            .filter_map(|c| {
                let link = c["externalIds"].as_array()?.first()?["value"].as_str()?;
                Some((link.to_string(), c["id"].as_str()?.to_string()))
            })
            .collect();
        let mut ids: Vec<String> = sf
            .all()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        let step = (ids.len() / edits.max(1)).max(1);
        let mut plan = EditPlan {
            on_salesforce: Vec::new(),
            on_genesys: Vec::new(),
        };
        for (k, sf_id) in ids.iter().step_by(step).take(edits).enumerate() {
            let gz_id = linked.get(sf_id).expect("every contact linked").clone();
            if k % 2 == 0 {
                let title = format!("Edited in Salesforce {k}");
                plan.on_salesforce.push((sf_id.clone(), gz_id, title));
            } else {
                let title = format!("Edited in Genesys {k}");
                plan.on_genesys.push((sf_id.clone(), gz_id, title));
            }
        }
        plan
    }

    pub fn apply(&self, sf: &SalesforceSim, gz: &GenesysSim) {
        for (sf_id, _, title) in &self.on_salesforce {
            sf.edit(sf_id, json!({ "Title": title }));
        }
        for (_, gz_id, title) in &self.on_genesys {
            gz.edit(gz_id, json!({ "title": title }));
        }
    }

    /// Both systems hold every edited title.
    pub fn assert_landed(&self, sf: &SalesforceSim, gz: &GenesysSim, who: &str) {
        for (sf_id, gz_id, title) in self.on_salesforce.iter().chain(&self.on_genesys) {
            let record = sf.get(sf_id).expect("salesforce contact");
            let contact = gz.get(gz_id).expect("genesys contact");
            assert_eq!(record["Title"], title.as_str(), "{who}: Salesforce {sf_id}");
            assert_eq!(contact["title"], title.as_str(), "{who}: Genesys {gz_id}");
        }
    }
}
