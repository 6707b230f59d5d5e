//! `contact-sync check`: read-only verification of the configuration, both systems'
//! credentials, and what the integration user may see and write, each with the fix when it
//! fails. Nothing is written to either system or to the state: the Genesys link source is
//! looked up, never created; Salesforce is described, never written.

use crate::systems::Systems;
use contact_sync_connectors::environment::{self, ConnectionSettings};
use contact_sync_engine::Side;
use contact_sync_engine::mapping::Mapping;
use contact_sync_pipeline::system::{ContactReader, SystemError};
use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but should be fixed (not counted as a failure).
    Warn,
    Fail,
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            check,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skipped(check: &'static str, why: &str) -> Check {
        Check {
            check,
            status: Status::Skipped,
            detail: why.to_string(),
            fix: None,
        }
    }
}

/// Every check, in order. `connections` is the sandbox's when given, else the environment's.
pub async fn run(
    mapping: anyhow::Result<Mapping>,
    connections: Option<ConnectionSettings>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let mapping = match mapping {
        Ok(m) => {
            checks.push(Check::ok(
                "mapping",
                format!(
                    "integration `{}`, {} fields, mode {}",
                    m.integration,
                    m.fields.len(),
                    if m.is_one_way() { "one_way" } else { "both" }
                ),
            ));
            Some(m)
        }
        Err(e) => {
            checks.push(Check::fail(
                "mapping",
                format!("{e:#}"),
                format!(
                    "fix the file named by {} (reference: docs/mapping.md), or unset it for the built-in mapping; a deployed mapping: publish a valid one with `contact-sync mapping publish`",
                    environment::CONTACT_SYNC_CONFIG
                ),
            ));
            None
        }
    };
    let connections = match connections
        .map(Ok)
        .unwrap_or_else(ConnectionSettings::from_env)
    {
        Ok(c) => {
            checks.push(Check::ok(
                "settings",
                format!(
                    "Salesforce login {}, Genesys API {}",
                    c.salesforce.login_url, c.genesys.api_base
                ),
            ));
            Some(c)
        }
        Err(e) => {
            checks.push(Check::fail(
                "settings",
                e.to_string(),
                format!("set {} (README: \"Against real orgs\")", e.variable),
            ));
            None
        }
    };
    let state = environment::state_dir_from_env();
    checks.push(match std::fs::metadata(&state) {
        Ok(m) if !m.is_dir() => Check::fail(
            "state directory",
            format!("{} is not a directory", state.display()),
            format!(
                "point {} at a directory",
                environment::CONTACT_SYNC_STATE_DIR
            ),
        ),
        Ok(_) => match wider_than_owner(&state) {
            Some(wide) => Check {
                check: "state directory",
                status: Status::Warn,
                detail: format!(
                    "{wide} can be read by other users; the store holds people's values"
                ),
                fix: Some(format!(
                    "chmod 700 {} && chmod 600 {}/*.redb",
                    state.display(),
                    state.display()
                )),
            },
            None => Check::ok("state directory", state.display().to_string()),
        },
        Err(_) => Check::ok(
            "state directory",
            format!("{} (created by the first sync)", state.display()),
        ),
    });
    let (Some(mapping), Some(connections)) = (mapping, connections) else {
        for name in SYSTEM_CHECKS {
            checks.push(Check::skipped(name, "needs a valid mapping and settings"));
        }
        return checks;
    };
    let systems = match environment::systems(connections, &mapping) {
        Ok((sf, gz)) => Systems::new(sf, gz),
        Err(e) => {
            checks.push(Check::fail(
                "systems",
                e.to_string(),
                "fix the setting it names",
            ));
            return checks;
        }
    };
    let (sf, gz) = tokio::join!(
        salesforce_checks(&systems, &mapping),
        genesys_checks(&systems, &mapping)
    );
    checks.extend(sf);
    checks.extend(gz);
    checks
}

/// The state directory, or a store file in it, when group or others have any access to it
/// (Unix modes; elsewhere: never).
fn wider_than_owner(dir: &std::path::Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let wide = |p: &std::path::Path| {
            std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
        };
        if wide(dir) {
            return Some(dir.display().to_string());
        }
        let files = std::fs::read_dir(dir).ok()?;
        files
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "redb"))
            .find(|p| wide(p))
            .map(|p| p.display().to_string())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

const SYSTEM_CHECKS: [&str; 8] = [
    "salesforce credentials",
    "salesforce contact fields",
    "salesforce writable fields",
    "salesforce API budget",
    "genesys credentials",
    "genesys external contacts",
    "genesys link source",
    "genesys custom-field schema",
];

/// The fix for a failed call, by what failed.
fn fix_for(side: Side, e: &SystemError) -> String {
    match (side, e) {
        (Side::Salesforce, SystemError::Auth { .. }) => "check SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET (or the JWT settings), that the connected app allows the client-credentials flow with a run-as user, and that SALESFORCE_LOGIN_URL is your My Domain".into(),
        (Side::Genesys, SystemError::Auth { .. }) => "check GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET (a client-credentials OAuth client) and GENESYS_REGION".into(),
        (_, SystemError::Transient { .. }) => format!("{side} cannot be reached now: check the URL settings and the network, then run check again"),
        (Side::Salesforce, SystemError::Rejected { status: 403, .. }) => "give the integration user's profile or permission set API access and read/edit on Contact".into(),
        (Side::Genesys, SystemError::Rejected { status: 403, .. }) => "give the OAuth client's role the external contacts permissions (externalContacts:contact:view/add/edit, externalContacts:externalSource:view/add)".into(),
        (_, SystemError::Budget { .. }) => "wait for the rolling 24-hour usage to drop, or raise SALESFORCE_API_BUDGET_SHARE".into(),
        _ => "see the message; the settings table in the README names every variable".into(),
    }
}

fn failed(check: &'static str, side: Side, e: &SystemError) -> Check {
    Check::fail(check, e.to_string(), fix_for(side, e))
}

async fn salesforce_checks(systems: &Systems, mapping: &Mapping) -> Vec<Check> {
    let sf = &systems.salesforce;
    let mut checks = Vec::new();
    match sf.prepare().await {
        Ok(facts) => checks.push(Check::ok(
            "salesforce credentials",
            format!(
                "token issued for {}",
                facts.instance_url.as_deref().unwrap_or("the org")
            ),
        )),
        Err(e) => {
            checks.push(failed("salesforce credentials", Side::Salesforce, &e));
            for name in &SYSTEM_CHECKS[1..4] {
                checks.push(Check::skipped(name, "needs working credentials"));
            }
            return checks;
        }
    }
    let described = sf.describe_contact().await;
    match described {
        Ok(fields) => {
            let find = |name: &str| fields.iter().find(|f| f.name.eq_ignore_ascii_case(name));
            let mapped: Vec<&str> = mapping
                .fields
                .iter()
                .filter_map(|f| f.salesforce.as_deref())
                .collect();
            let missing: Vec<&str> = mapped
                .iter()
                .copied()
                .filter(|f| find(f).is_none())
                .collect();
            checks.push(if missing.is_empty() {
                Check::ok(
                    "salesforce contact fields",
                    format!("all {} mapped fields visible", mapped.len()),
                )
            } else {
                Check::fail(
                    "salesforce contact fields",
                    format!("not visible to the integration user: {}", missing.join(", ")),
                    "create the fields, or grant the integration user read access to them (field-level security), or remove them from the mapping",
                )
            });
            checks.push(writable_fields(mapping, &find));
        }
        Err(e) => {
            checks.push(failed("salesforce contact fields", Side::Salesforce, &e));
            checks.push(Check::skipped(
                "salesforce writable fields",
                "needs the Contact description",
            ));
        }
    }
    checks.push(match sf.api_budget() {
        Some(b) => {
            let share = b.used as f64 / b.max as f64;
            let detail = format!(
                "{} of {} daily API requests used ({:.1}%); a run stops at {:.0}%",
                b.used,
                b.max,
                share * 100.0,
                b.stop_share * 100.0
            );
            if share >= b.stop_share {
                Check::fail(
                    "salesforce API budget",
                    detail,
                    fix_for(
                        Side::Salesforce,
                        &SystemError::Budget {
                            side: Side::Salesforce,
                            used: b.used,
                            max: b.max,
                        },
                    ),
                )
            } else {
                Check::ok("salesforce API budget", detail)
            }
        }
        None => Check::fail(
            "salesforce API budget",
            "the org did not report Sforce-Limit-Info",
            "check that SALESFORCE_LOGIN_URL points at a Salesforce org",
        ),
    });
    checks
}

/// Fields the mapping writes to Salesforce must be createable and updateable.
fn writable_fields<'a>(
    mapping: &Mapping,
    find: &dyn Fn(&str) -> Option<&'a contact_sync_connectors::salesforce::FieldDescription>,
) -> Check {
    if mapping.is_one_way() {
        return Check::ok(
            "salesforce writable fields",
            "mode one_way: nothing is ever written to Salesforce",
        );
    }
    let written: Vec<&str> = mapping
        .fields
        .iter()
        .filter(|f| f.direction.allows(Side::Genesys) || f.derived_into() == Some(Side::Salesforce))
        .filter_map(|f| f.salesforce.as_deref())
        .collect();
    let read_only: Vec<&str> = written
        .iter()
        .copied()
        .filter(|name| find(name).is_some_and(|d| !(d.createable && d.updateable)))
        .collect();
    if read_only.is_empty() {
        Check::ok(
            "salesforce writable fields",
            format!(
                "all {} fields written to Salesforce are createable and updateable",
                written.len()
            ),
        )
    } else {
        Check::fail(
            "salesforce writable fields",
            format!(
                "read-only for the integration user: {}",
                read_only.join(", ")
            ),
            "grant edit access to these fields (field-level security), or make them salesforce_to_genesys in the mapping, or run one-way (--direction one-way)",
        )
    }
}

async fn genesys_checks(systems: &Systems, mapping: &Mapping) -> Vec<Check> {
    let gz = &systems.genesys;
    let mut checks = Vec::new();
    match gz.read_changes(None, None).await {
        Ok(page) => {
            checks.push(Check::ok("genesys credentials", "token issued"));
            checks.push(Check::ok(
                "genesys external contacts",
                format!(
                    "readable ({} on the first page{})",
                    page.records.len(),
                    if page.next.is_some() {
                        ", more follow"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Err(e @ SystemError::Auth { .. }) => {
            checks.push(failed("genesys credentials", Side::Genesys, &e));
            for name in &SYSTEM_CHECKS[5..] {
                checks.push(Check::skipped(name, "needs working credentials"));
            }
            return checks;
        }
        Err(e) => {
            checks.push(Check::ok("genesys credentials", "token issued"));
            checks.push(failed("genesys external contacts", Side::Genesys, &e));
        }
    }
    checks.push(match gz.find_link_source().await {
        Ok(Some(id)) => Check::ok(
            "genesys link source",
            format!("external source `{}` exists ({id})", gz.link_source_name()),
        ),
        Ok(None) => Check::ok(
            "genesys link source",
            format!(
                "external source `{}` does not exist yet: the first sync creates it (needs externalContacts:externalSource:add); check creates nothing",
                gz.link_source_name()
            ),
        ),
        Err(e) => failed("genesys link source", Side::Genesys, &e),
    });
    checks.push(schema_check(gz, mapping).await);
    checks
}

async fn schema_check(gz: &contact_sync_connectors::GenesysSystem, mapping: &Mapping) -> Check {
    const NAME: &str = "genesys custom-field schema";
    let custom: Vec<String> = mapping
        .fields
        .iter()
        .filter_map(|f| f.genesys.as_ref())
        .filter_map(|p| {
            p.to_string()
                .strip_prefix("customFields.")
                .map(str::to_string)
        })
        .collect();
    let Some(wanted) = &mapping.genesys_schema else {
        return Check::ok(NAME, "no custom fields mapped");
    };
    match gz.data_schema(&wanted.id).await {
        Ok(Some(schema)) => {
            let missing: Vec<&str> = custom
                .iter()
                .map(String::as_str)
                .filter(|f| !schema.fields.iter().any(|s| s == f))
                .collect();
            if schema.version != wanted.version {
                Check::fail(
                    NAME,
                    format!(
                        "schema {} is at version {}, the mapping says {}",
                        wanted.id, schema.version, wanted.version
                    ),
                    "set genesys_schema.version in the mapping to the schema's current version",
                )
            } else if !missing.is_empty() {
                Check::fail(
                    NAME,
                    format!("schema {} has no field {}", wanted.id, missing.join(", ")),
                    "add the fields to the data schema in Genesys Cloud, or fix their names in the mapping",
                )
            } else {
                Check::ok(
                    NAME,
                    format!(
                        "schema {} version {} has the {} mapped custom fields",
                        wanted.id,
                        schema.version,
                        custom.len()
                    ),
                )
            }
        }
        Ok(None) => Check::fail(
            NAME,
            format!("no data schema {} in the org", wanted.id),
            "set genesys_schema.id in the mapping to the id of the contacts' data schema",
        ),
        Err(e) => failed(NAME, Side::Genesys, &e),
    }
}

/// One line per check; `--json` prints them as one JSON array.
pub fn print(out: &mut impl Write, checks: &[Check], json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{}", serde_json::to_string(checks).unwrap_or_default());
    }
    for c in checks {
        let status = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "skip",
        };
        write!(out, "{status}  {:<28} {}", c.check, c.detail)?;
        match &c.fix {
            Some(fix) => writeln!(out, "\n      fix: {fix}")?,
            None => writeln!(out)?,
        }
    }
    let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failures == 0 {
        writeln!(out, "all checks passed")
    } else {
        writeln!(out, "{failures} check(s) failed")
    }
}

/// True when any check failed.
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}
