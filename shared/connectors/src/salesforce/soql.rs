//! SOQL building: only validated field names and ids, and escaped string literals, ever reach a
//! query. Nothing here can be used for injection.

use chrono::{DateTime, SecondsFormat, Utc};
use contact_sync_pipeline::system::Watermark;

/// `^[A-Za-z][A-Za-z0-9_]*$`: standard and custom (`Foo__c`) field names.
pub fn is_valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 255
}

/// `^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`: a 15- or 18-character record id.
pub fn is_valid_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A SOQL string literal, quotes included, or `None` when the value holds a control character
/// SOQL has no escape for (such a value cannot match a stored email anyway).
pub fn string_literal(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    out.push('\'');
    Some(out)
}

/// A SOQL datetime literal (unquoted, UTC, milliseconds): `2024-01-01T00:00:00.000Z`.
pub fn datetime_literal(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `SELECT Id, SystemModstamp, <fields> FROM Contact`.
pub fn select_clause(fields: &[String]) -> String {
    let mut soql = String::from("SELECT Id, SystemModstamp");
    for f in fields {
        soql.push_str(", ");
        soql.push_str(f);
    }
    soql.push_str(" FROM Contact");
    soql
}

/// `(SystemModstamp, Id)` strictly after the watermark, as a parenthesised condition; for a
/// watermark that names the ids it read at its stamp, everything from the stamp on (the
/// caller drops those ids: Salesforce's `Id` order is not documented, and a record written in
/// the stamp after the read may have any id). `None` when the watermark's id is not a
/// Salesforce id.
fn after_watermark(mark: &Watermark) -> Option<String> {
    let ts = datetime_literal(mark.stamp);
    if mark.reads_its_stamp() {
        return Some(format!("(SystemModstamp >= {ts})"));
    }
    if mark.last_id.is_empty() {
        return Some(format!("(SystemModstamp > {ts})"));
    }
    if !is_valid_id(&mark.last_id) {
        return None;
    }
    Some(format!(
        "(SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{}'))",
        mark.last_id
    ))
}

/// The change query: everything after the watermark `(stamp, id)` in that order.
/// `None` when the watermark's id is not a Salesforce id.
pub fn changes_query(fields: &[String], since: Option<&Watermark>) -> Option<String> {
    let mut soql = bulk_changes_query(fields, since)?;
    soql.push_str(" ORDER BY SystemModstamp, Id");
    Some(soql)
}

/// The change query of a Bulk API 2.0 job: the same records as [`changes_query`], without
/// ORDER BY (the caller's watermark is the largest `(SystemModstamp, Id)` it saw, whatever the
/// order). `None` when the watermark's id is not a Salesforce id.
pub fn bulk_changes_query(fields: &[String], since: Option<&Watermark>) -> Option<String> {
    let mut soql = select_clause(fields);
    if let Some(mark) = since {
        soql.push_str(" WHERE ");
        soql.push_str(&after_watermark(mark)?);
    }
    Some(soql)
}

/// The deletions query (for `queryAll`): deleted rows after the watermark, with the merge
/// survivor. `None` when the watermark's id is not a Salesforce id.
pub fn deletions_query(since: Option<&Watermark>) -> Option<String> {
    let mut soql = String::from(
        "SELECT Id, SystemModstamp, MasterRecordId FROM Contact WHERE IsDeleted = TRUE",
    );
    if let Some(mark) = since {
        soql.push_str(" AND ");
        soql.push_str(&after_watermark(mark)?);
    }
    soql.push_str(" ORDER BY SystemModstamp, Id");
    Some(soql)
}

/// `<select> WHERE <field> IN (<literals>)`; literals must already be escaped/validated.
pub fn in_query(fields: &[String], field: &str, literals: &[String]) -> String {
    format!(
        "{} WHERE {field} IN ({})",
        select_clause(fields),
        literals.join(", ")
    )
}

/// Groups literals so that each group has at most `max_items` and its joined length stays
/// under `max_chars` (a single literal longer than that still gets its own group).
pub fn group_literals(
    literals: Vec<String>,
    max_items: usize,
    max_chars: usize,
) -> Vec<Vec<String>> {
    let mut groups = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut len = 0usize;
    for lit in literals {
        if !current.is_empty() && (current.len() >= max_items || len + lit.len() + 2 > max_chars) {
            groups.push(std::mem::take(&mut current));
            len = 0;
        }
        len += lit.len() + 2;
        current.push(lit);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_the_api_name_rule() {
        // GIVEN standard, custom and hostile names
        // WHEN validated
        // THEN only API names pass
        for ok in ["Email", "MailingCity", "Sync_Key__c", "a1"] {
            assert!(is_valid_field_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1Email",
            "_x",
            "Email,Name",
            "Email FROM User--",
            "Name'",
            "Nàme",
        ] {
            assert!(!is_valid_field_name(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_15_or_18_alphanumerics() {
        // GIVEN ids of several shapes
        // WHEN validated
        // THEN only 15/18 alphanumeric characters pass
        assert!(is_valid_id("003000000000001"));
        assert!(is_valid_id("003000000000001AAA"));
        for bad in [
            "",
            "003",
            "0030000000000010",
            "003000000000001' OR ''='",
            "00300000000000!AAA",
        ] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn string_literals_escape_everything_soql_interprets() {
        // GIVEN values with quotes, backslashes and whitespace escapes
        // WHEN quoted
        // THEN every special character is escaped, so the literal cannot be closed early
        assert_eq!(string_literal("a@b.c").as_deref(), Some("'a@b.c'"));
        assert_eq!(
            string_literal("o'hara\\\"x\"\n\r\t").as_deref(),
            Some(r#"'o\'hara\\\"x\"\n\r\t'"#)
        );
        assert_eq!(
            string_literal("x' OR Name != '").as_deref(),
            Some(r"'x\' OR Name != \''")
        );
        // AND an unescapable control character makes the value unusable rather than raw
        assert_eq!(string_literal("a\u{0}b"), None);
    }

    #[test]
    fn changes_query_orders_by_stamp_then_id_after_the_watermark() {
        // GIVEN mapped fields and a watermark
        let fields = vec!["FirstName".to_owned(), "Email".to_owned()];
        let mark = Watermark::position(
            DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .expect("date"),
            "003000000000001AAA",
        );
        // WHEN the change query is built with and without it
        let full = changes_query(&fields, None).expect("query");
        let after = changes_query(&fields, Some(&mark)).expect("query");
        // THEN the filter is (stamp > ts) OR (stamp = ts AND Id > id), unquoted datetime
        assert_eq!(
            full,
            "SELECT Id, SystemModstamp, FirstName, Email FROM Contact ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            after,
            "SELECT Id, SystemModstamp, FirstName, Email FROM Contact WHERE (SystemModstamp > \
             2024-01-01T00:00:00.000Z OR (SystemModstamp = 2024-01-01T00:00:00.000Z AND Id > \
             '003000000000001AAA')) ORDER BY SystemModstamp, Id"
        );
        // AND a watermark id that is not an id is refused
        let bad = Watermark::position(mark.stamp, "x' OR Id != '");
        assert_eq!(changes_query(&fields, Some(&bad)), None);
        assert_eq!(deletions_query(Some(&bad)), None);
    }

    #[test]
    fn a_watermark_with_the_ids_of_its_stamp_reads_the_whole_stamp_again() {
        // GIVEN a watermark that names the ids it read at its (whole-second) stamp
        let stamp = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .expect("date");
        let mark = Watermark::of_record(stamp, "003000000000009AAA");
        // WHEN the change query is built
        let q = changes_query(&["Email".to_owned()], Some(&mark)).expect("query");
        // THEN it reads from the stamp itself, whatever the id (the caller drops the ids read)
        assert_eq!(
            q,
            "SELECT Id, SystemModstamp, Email FROM Contact WHERE (SystemModstamp >= \
             2024-01-01T00:00:00.000Z) ORDER BY SystemModstamp, Id"
        );
    }

    #[test]
    fn deletions_query_keeps_the_deleted_filter_outside_the_watermark_or() {
        // GIVEN a watermark
        let mark = Watermark::position(
            DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .expect("date"),
            "003000000000001AAA",
        );
        // WHEN the deletions query is built
        let q = deletions_query(Some(&mark)).expect("query");
        // THEN IsDeleted applies to both branches of the watermark condition
        assert_eq!(
            q,
            "SELECT Id, SystemModstamp, MasterRecordId FROM Contact WHERE IsDeleted = TRUE AND \
             (SystemModstamp > 2024-01-01T00:00:00.000Z OR (SystemModstamp = \
             2024-01-01T00:00:00.000Z AND Id > '003000000000001AAA')) ORDER BY SystemModstamp, Id"
        );
        assert!(deletions_query(None).is_some_and(|q| !q.contains(" AND ")));
    }

    #[test]
    fn literals_are_grouped_by_count_and_length() {
        // GIVEN 250 short literals and a few long ones
        let short: Vec<String> = (0..250).map(|i| format!("'{i}'")).collect();
        let long: Vec<String> = (0..3).map(|_| format!("'{}'", "x".repeat(300))).collect();
        // WHEN grouped
        let by_count = group_literals(short, 100, 10_000);
        let by_len = group_literals(long, 100, 500);
        // THEN no group exceeds either bound
        assert_eq!(
            by_count.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        assert_eq!(by_len.len(), 3);
    }
}
