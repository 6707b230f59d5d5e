//! A small SOQL subset: `SELECT f, ... FROM Contact [WHERE expr] [ORDER BY f [ASC|DESC]
//! [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`.
//!
//! Conditions: `= != <> < <= > >=` between a field and a literal, `IN (...)`, `NOT IN (...)`,
//! `LIKE`, `AND`, `OR`, `NOT` and parentheses. Literals: quoted strings with backslash escapes,
//! unquoted datetimes, numbers, `null`, `true`, `false`. Text equality is case-insensitive.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::contact::{Field, FieldType, parse_datetime};
use super::record_id;

/// A query error, rendered as `[{message, errorCode}]` with status 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoqlError {
    pub(crate) error_code: &'static str,
    pub(crate) message: String,
}

impl SoqlError {
    fn malformed(message: impl Into<String>) -> Self {
        Self {
            error_code: "MALFORMED_QUERY",
            message: message.into(),
        }
    }

    fn invalid_field(message: impl Into<String>) -> Self {
        Self {
            error_code: "INVALID_FIELD",
            message: message.into(),
        }
    }
}

/// A parsed query.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// `SELECT COUNT()`: only `totalSize` is answered.
    pub(crate) count: bool,
    pub(crate) fields: Vec<String>,
    pub(crate) filter: Option<Condition>,
    pub(crate) order: Vec<OrderKey>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct OrderKey {
    field: Field,
    descending: bool,
    nulls_first: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Number(f64),
    DateTime(DateTime<Utc>),
    Bool(bool),
    Null,
}

/// A WHERE condition.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare(Field, Comparison, Literal),
    In(Field, Vec<Literal>, bool),
    Like(Field, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Comma,
    Open,
    Close,
    Operator(Comparison),
}

fn tokenize(soql: &str) -> Result<Vec<Token>, SoqlError> {
    let mut tokens = Vec::new();
    let mut chars = soql.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '=' => {
                chars.next();
                tokens.push(Token::Operator(Comparison::Eq));
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(SoqlError::malformed("unexpected token: '!'"));
                }
                tokens.push(Token::Operator(Comparison::Ne));
            }
            '<' | '>' => {
                chars.next();
                let operator = match (c, chars.peek()) {
                    ('<', Some('=')) => Some(Comparison::Le),
                    ('<', Some('>')) => Some(Comparison::Ne),
                    ('>', Some('=')) => Some(Comparison::Ge),
                    _ => None,
                };
                match operator {
                    Some(operator) => {
                        chars.next();
                        tokens.push(Token::Operator(operator));
                    }
                    None if c == '<' => tokens.push(Token::Operator(Comparison::Lt)),
                    None => tokens.push(Token::Operator(Comparison::Gt)),
                }
            }
            '\'' => {
                chars.next();
                tokens.push(Token::Text(read_string(&mut chars)?));
            }
            c if is_word_char(c) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
            other => {
                return Err(SoqlError::malformed(format!("unexpected token: '{other}'")));
            }
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '+' | '-')
}

fn read_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, SoqlError> {
    let mut text = String::new();
    loop {
        match chars.next() {
            None => return Err(SoqlError::malformed("unterminated string literal")),
            Some('\'') => return Ok(text),
            Some('\\') => {
                let escaped = match chars.next() {
                    Some('\'') => '\'',
                    Some('\\') => '\\',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('r') => '\r',
                    Some('t') => '\t',
                    Some('b') => '\u{8}',
                    Some('f') => '\u{c}',
                    Some('_') => '_',
                    Some('%') => '%',
                    _ => {
                        return Err(SoqlError::malformed(
                            "Invalid string literal: illegal escape sequence",
                        ));
                    }
                };
                text.push(escaped);
            }
            Some(c) => text.push(c),
        }
    }
}

struct Parser<'a, R> {
    tokens: Vec<Token>,
    position: usize,
    resolve: &'a R,
}

impl<R: Fn(&str) -> Option<Field>> Parser<'_, R> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword(keyword);
        if found {
            self.position += 1;
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), SoqlError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expecting '{keyword}'")))
        }
    }

    fn unexpected(&self, expectation: &str) -> SoqlError {
        let found = match self.peek() {
            Some(Token::Word(word)) => word.clone(),
            Some(Token::Text(_)) => "string literal".into(),
            Some(Token::Comma) => ",".into(),
            Some(Token::Open) => "(".into(),
            Some(Token::Close) => ")".into(),
            Some(Token::Operator(_)) => "operator".into(),
            None => "end of query".into(),
        };
        SoqlError::malformed(format!("unexpected token: '{found}', {expectation}"))
    }

    fn field(&mut self) -> Result<Field, SoqlError> {
        match self.next() {
            Some(Token::Word(name)) if !is_reserved(&name) => (self.resolve)(&name).ok_or_else(|| {
                SoqlError::invalid_field(format!(
                    "No such column '{name}' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
                ))
            }),
            _ => {
                self.position -= 1;
                Err(self.unexpected("expecting a field name"))
            }
        }
    }

    fn number(&mut self) -> Result<usize, SoqlError> {
        match self.next() {
            Some(Token::Word(word)) => word
                .parse::<usize>()
                .map_err(|_| SoqlError::malformed(format!("unexpected token: '{word}'"))),
            _ => {
                self.position -= 1;
                Err(self.unexpected("expecting a number"))
            }
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_keyword("SELECT")?;
        let mut fields: Vec<String> = Vec::new();
        let count = self.peek_keyword("COUNT")
            && self.tokens.get(self.position + 1) == Some(&Token::Open)
            && self.tokens.get(self.position + 2) == Some(&Token::Close);
        if count {
            self.position += 3;
        } else {
            loop {
                let field = self.field()?;
                if !fields.contains(&field.name) {
                    fields.push(field.name);
                }
                if !matches!(self.peek(), Some(Token::Comma)) {
                    break;
                }
                self.position += 1;
            }
        }
        self.expect_keyword("FROM")?;
        match self.next() {
            Some(Token::Word(object)) if object.eq_ignore_ascii_case("Contact") => {}
            Some(Token::Word(object)) => {
                return Err(SoqlError {
                    error_code: "INVALID_TYPE",
                    message: format!("sObject type '{object}' is not supported."),
                });
            }
            _ => {
                self.position -= 1;
                return Err(self.unexpected("expecting an sObject name"));
            }
        }
        let filter = if self.eat_keyword("WHERE") {
            Some(self.or_condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_keyword("ORDER") {
            self.expect_keyword("BY")?;
            loop {
                order.push(self.order_key()?);
                if !matches!(self.peek(), Some(Token::Comma)) {
                    break;
                }
                self.position += 1;
            }
        }
        let limit = if self.eat_keyword("LIMIT") {
            Some(self.number()?)
        } else {
            None
        };
        let offset = if self.eat_keyword("OFFSET") {
            Some(self.number()?)
        } else {
            None
        };
        if self.peek().is_some() {
            return Err(self.unexpected("expecting end of query"));
        }
        Ok(Query {
            count,
            fields,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn order_key(&mut self) -> Result<OrderKey, SoqlError> {
        let field = self.field()?;
        let descending = if self.eat_keyword("DESC") {
            true
        } else {
            self.eat_keyword("ASC");
            false
        };
        let nulls_first = if self.eat_keyword("NULLS") {
            if self.eat_keyword("FIRST") {
                true
            } else {
                self.expect_keyword("LAST")?;
                false
            }
        } else {
            !descending
        };
        Ok(OrderKey {
            field,
            descending,
            nulls_first,
        })
    }

    fn or_condition(&mut self) -> Result<Condition, SoqlError> {
        let mut condition = self.and_condition()?;
        while self.eat_keyword("OR") {
            let right = self.and_condition()?;
            condition = Condition::Or(Box::new(condition), Box::new(right));
        }
        Ok(condition)
    }

    fn and_condition(&mut self) -> Result<Condition, SoqlError> {
        let mut condition = self.not_condition()?;
        while self.eat_keyword("AND") {
            let right = self.not_condition()?;
            condition = Condition::And(Box::new(condition), Box::new(right));
        }
        Ok(condition)
    }

    fn not_condition(&mut self) -> Result<Condition, SoqlError> {
        if self.eat_keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.not_condition()?)));
        }
        if matches!(self.peek(), Some(Token::Open)) {
            self.position += 1;
            let inner = self.or_condition()?;
            if self.next() != Some(Token::Close) {
                self.position -= 1;
                return Err(self.unexpected("expecting ')'"));
            }
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Condition, SoqlError> {
        let field = self.field()?;
        if self.eat_keyword("NOT") {
            self.expect_keyword("IN")?;
            let values = self.literal_list(&field)?;
            return Ok(Condition::In(field, values, true));
        }
        if self.eat_keyword("IN") {
            let values = self.literal_list(&field)?;
            return Ok(Condition::In(field, values, false));
        }
        if self.eat_keyword("LIKE") {
            return match self.next() {
                Some(Token::Text(pattern))
                    if matches!(field.kind, FieldType::Text | FieldType::Custom) =>
                {
                    Ok(Condition::Like(field, pattern))
                }
                Some(Token::Text(_)) => Err(SoqlError::invalid_field(format!(
                    "invalid operator on {} field: LIKE",
                    field.name
                ))),
                _ => {
                    self.position -= 1;
                    Err(self.unexpected("expecting a string literal"))
                }
            };
        }
        let operator = match self.next() {
            Some(Token::Operator(operator)) => operator,
            _ => {
                self.position -= 1;
                return Err(self.unexpected("expecting a comparison operator"));
            }
        };
        let literal = self.literal(&field)?;
        if field.kind == FieldType::Boolean && !matches!(operator, Comparison::Eq | Comparison::Ne)
        {
            return Err(SoqlError::invalid_field(format!(
                "invalid operator on boolean field: {}",
                field.name
            )));
        }
        Ok(Condition::Compare(field, operator, literal))
    }

    fn literal_list(&mut self, field: &Field) -> Result<Vec<Literal>, SoqlError> {
        if self.next() != Some(Token::Open) {
            self.position -= 1;
            return Err(self.unexpected("expecting '('"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.literal(field)?);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => return Ok(values),
                _ => {
                    self.position -= 1;
                    return Err(self.unexpected("expecting ',' or ')'"));
                }
            }
        }
    }

    fn literal(&mut self, field: &Field) -> Result<Literal, SoqlError> {
        let literal = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Token::Word(word)) => {
                if let Some(time) = word.contains('T').then(|| parse_datetime(&word)).flatten() {
                    Literal::DateTime(time)
                } else if let Ok(number) = word.parse::<f64>() {
                    Literal::Number(number)
                } else {
                    return Err(SoqlError::malformed(format!("unexpected token: '{word}'")));
                }
            }
            _ => {
                self.position -= 1;
                return Err(self.unexpected("expecting a literal"));
            }
        };
        check_literal(field, literal)
    }
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "OFFSET", "AND", "OR", "NOT", "IN", "LIKE",
    "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS",
];

fn is_reserved(word: &str) -> bool {
    RESERVED
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(word))
}

fn check_literal(field: &Field, literal: Literal) -> Result<Literal, SoqlError> {
    let mismatch = |expected: &str| {
        Err(SoqlError::invalid_field(format!(
            "value of filter criterion for field '{}' must be of type {expected}",
            field.name
        )))
    };
    match (field.kind, literal) {
        (_, Literal::Null) => Ok(Literal::Null),
        (FieldType::Custom, literal) => Ok(literal),
        (FieldType::DateTime, literal @ Literal::DateTime(_)) => Ok(literal),
        (FieldType::DateTime, _) => mismatch("dateTime and should not be enclosed in quotes"),
        (FieldType::Boolean, literal @ Literal::Bool(_)) => Ok(literal),
        (FieldType::Boolean, _) => mismatch("boolean and should not be enclosed in quotes"),
        (FieldType::Id, Literal::Text(text)) => {
            // 15-character ids are accepted and compared as their 18-character form.
            Ok(Literal::Text(record_id::to_18(&text).unwrap_or(text)))
        }
        (FieldType::Text, literal @ Literal::Text(_)) => Ok(literal),
        (FieldType::Text | FieldType::Id, _) => mismatch("string and should be enclosed in quotes"),
    }
}

/// Parse `soql`, resolving field names with `resolve`.
pub(crate) fn parse(
    soql: &str,
    resolve: &impl Fn(&str) -> Option<Field>,
) -> Result<Query, SoqlError> {
    let tokens = tokenize(soql)?;
    Parser {
        tokens,
        position: 0,
        resolve,
    }
    .query()
}

impl Condition {
    /// The only record ids this condition can match, when it pins them (`Id = '…'`,
    /// `Id IN (…)`, or either side of an AND does): lets a query look records up instead of
    /// scanning the org. `None` when any record may match.
    pub(crate) fn pinned_ids(&self) -> Option<Vec<&str>> {
        let is_id = |field: &Field| field.name == "Id";
        match self {
            Condition::Compare(field, Comparison::Eq, Literal::Text(id)) if is_id(field) => {
                Some(vec![id.as_str()])
            }
            Condition::In(field, values, false) if is_id(field) => values
                .iter()
                .map(|v| match v {
                    Literal::Text(id) => Some(id.as_str()),
                    _ => None,
                })
                .collect(),
            Condition::And(left, right) => left.pinned_ids().or_else(|| right.pinned_ids()),
            _ => None,
        }
    }

    /// Whether `record` satisfies the condition.
    pub(crate) fn matches(&self, record: &Map<String, Value>) -> bool {
        match self {
            Condition::And(left, right) => left.matches(record) && right.matches(record),
            Condition::Or(left, right) => left.matches(record) || right.matches(record),
            Condition::Not(inner) => !inner.matches(record),
            Condition::Compare(field, operator, literal) => {
                compare(field, field_value(record, field), *operator, literal)
            }
            Condition::In(field, values, negated) => {
                let value = field_value(record, field);
                let found = values
                    .iter()
                    .any(|literal| compare(field, value, Comparison::Eq, literal));
                found != *negated
            }
            Condition::Like(field, pattern) => match field_value(record, field) {
                Value::String(text) => like(&text.to_lowercase(), &pattern.to_lowercase()),
                _ => false,
            },
        }
    }
}

/// Case-insensitive text order without allocating (the simulator compares a lot of text).
fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

fn field_value<'a>(record: &'a Map<String, Value>, field: &Field) -> &'a Value {
    record.get(&field.name).unwrap_or(&Value::Null)
}

fn compare(field: &Field, value: &Value, operator: Comparison, literal: &Literal) -> bool {
    if *literal == Literal::Null {
        return match operator {
            Comparison::Eq => value.is_null(),
            Comparison::Ne => !value.is_null(),
            _ => false,
        };
    }
    if value.is_null() {
        return operator == Comparison::Ne;
    }
    let ordering = match (field.kind, value, literal) {
        (FieldType::DateTime | FieldType::Custom, Value::String(text), Literal::DateTime(time)) => {
            parse_datetime(text).map(|stored| stored.cmp(time))
        }
        (_, Value::String(text), Literal::Text(expected)) => Some(cmp_ignore_case(text, expected)),
        (_, Value::Number(number), Literal::Number(expected)) => number
            .as_f64()
            .and_then(|number| number.partial_cmp(expected)),
        (_, Value::Bool(flag), Literal::Bool(expected)) => Some(flag.cmp(expected)),
        _ => None,
    };
    match ordering {
        None => operator == Comparison::Ne,
        Some(ordering) => match operator {
            Comparison::Eq => ordering == Ordering::Equal,
            Comparison::Ne => ordering != Ordering::Equal,
            Comparison::Lt => ordering == Ordering::Less,
            Comparison::Le => ordering != Ordering::Greater,
            Comparison::Gt => ordering == Ordering::Greater,
            Comparison::Ge => ordering != Ordering::Less,
        },
    }
}

/// SOQL LIKE: `%` any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// Order two records by the ORDER BY keys.
pub(crate) fn order_records(
    keys: &[OrderKey],
    left: &Map<String, Value>,
    right: &Map<String, Value>,
) -> Ordering {
    for key in keys {
        let ordering = order_values(
            key,
            field_value(left, &key.field),
            field_value(right, &key.field),
        );
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn order_values(key: &OrderKey, left: &Value, right: &Value) -> Ordering {
    let nulls = |ordering: Ordering| {
        if key.nulls_first {
            ordering
        } else {
            ordering.reverse()
        }
    };
    let ordering = match (left, right) {
        (Value::Null, Value::Null) => return Ordering::Equal,
        (Value::Null, _) => return nulls(Ordering::Less),
        (_, Value::Null) => return nulls(Ordering::Greater),
        (Value::String(a), Value::String(b)) if key.field.kind == FieldType::DateTime => {
            parse_datetime(a).cmp(&parse_datetime(b))
        }
        (Value::String(a), Value::String(b)) => cmp_ignore_case(a, b),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => Ordering::Equal,
    };
    if key.descending {
        ordering.reverse()
    } else {
        ordering
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::contact::ContactStore;
    use serde_json::json;

    fn parse_query(soql: &str) -> Result<Query, SoqlError> {
        let store = ContactStore::default();
        parse(soql, &|name: &str| store.resolve_field(name))
    }

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn filter_matches(soql: &str, value: Value) -> bool {
        let query = parse_query(soql).expect("query parses");
        query
            .filter
            .is_none_or(|filter| filter.matches(&record(value)))
    }

    #[test]
    fn id_lists_pin_the_records_and_counts_parse() {
        // GIVEN lookups by id, a mixed condition and a count
        let by_ids = parse_query(
            "SELECT Id FROM Contact WHERE Id IN ('003000000000001AAA', '003000000000002AAA')",
        )
        .expect("parses");
        let anded = parse_query(
            "SELECT Id FROM Contact WHERE LastName = 'x' AND Id = '003000000000001AAA'",
        )
        .expect("parses");
        let ored =
            parse_query("SELECT Id FROM Contact WHERE LastName = 'x' OR Id = '003000000000001AAA'")
                .expect("parses");
        let count = parse_query("SELECT COUNT() FROM Contact").expect("parses");
        // WHEN asked which ids they pin
        let pinned = |q: &Query| {
            q.filter
                .as_ref()
                .and_then(Condition::pinned_ids)
                .map(|v| v.len())
        };
        // THEN IN and AND pin, OR does not (any record may match), COUNT() has no fields
        assert_eq!(pinned(&by_ids), Some(2));
        assert_eq!(pinned(&anded), Some(1));
        assert_eq!(pinned(&ored), None);
        assert!(count.count && count.fields.is_empty());
    }

    #[test]
    fn text_order_ignores_case_without_allocating() {
        // GIVEN ASCII and non-ASCII pairs
        // WHEN compared
        // THEN case does not matter
        assert_eq!(cmp_ignore_case("Ana", "aNA"), Ordering::Equal);
        assert_eq!(cmp_ignore_case("ana", "Anb"), Ordering::Less);
        assert_eq!(cmp_ignore_case("ÉLODIE", "élodie"), Ordering::Equal);
    }

    #[test]
    fn parses_the_incremental_sync_query() {
        // GIVEN the watermark query of the sync engine
        let soql = "select Id, Email, systemmodstamp FROM Contact WHERE SystemModstamp > 2024-01-01T00:00:00Z ORDER BY SystemModstamp, Id LIMIT 10";
        // WHEN parsing it
        let query = parse_query(soql).expect("query parses");
        // THEN fields are canonical and the clauses are kept
        assert_eq!(query.fields, vec!["Id", "Email", "SystemModstamp"]);
        assert_eq!(query.order.len(), 2);
        assert_eq!(query.limit, Some(10));
    }

    #[test]
    fn datetime_comparisons_are_by_time() {
        // GIVEN a record stamped at noon (+0000 rendering)
        let contact = json!({"SystemModstamp": "2024-01-01T12:00:00.000+0000"});
        // WHEN comparing with literals in several forms
        // THEN comparisons use the instant, not the text
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-01T11:59:59.999Z",
            contact.clone()
        ));
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE SystemModstamp = 2024-01-01T12:00:00+0000",
            contact.clone()
        ));
        assert!(!filter_matches(
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-01T12:00:00.000Z",
            contact
        ));
    }

    #[test]
    fn text_equality_and_in_are_case_insensitive() {
        // GIVEN a record with a mixed-case email
        let contact = json!({"Email": "Ana.Lopez@Example.com", "LastName": "O'Neil"});
        // WHEN filtering with other casings, escapes, IN and NOT IN
        // THEN matches follow SOQL semantics
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE Email = 'ana.lopez@example.com'",
            contact.clone()
        ));
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE LastName = 'o\\'neil'",
            contact.clone()
        ));
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE Email IN ('x@example.com', 'ANA.LOPEZ@EXAMPLE.COM')",
            contact.clone()
        ));
        assert!(!filter_matches(
            "SELECT Id FROM Contact WHERE Email NOT IN ('ana.lopez@example.com')",
            contact.clone()
        ));
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE NOT (Email = null) AND (Title = null OR Title = 'x')",
            contact.clone()
        ));
        assert!(filter_matches(
            "SELECT Id FROM Contact WHERE Email LIKE 'ana%'",
            contact
        ));
    }

    #[test]
    fn errors_have_the_real_codes() {
        // GIVEN bad queries
        // WHEN parsing them
        // THEN unknown fields are INVALID_FIELD and syntax errors MALFORMED_QUERY
        let unknown = parse_query("SELECT Id, Bogus FROM Contact").map(|_| ());
        assert_eq!(unknown.map_err(|e| e.error_code), Err("INVALID_FIELD"));
        let syntax = parse_query("SELECT Id FROM Contact WHERE").map(|_| ());
        assert_eq!(syntax.map_err(|e| e.error_code), Err("MALFORMED_QUERY"));
        let unterminated = parse_query("SELECT Id FROM Contact WHERE Email = 'x").map(|_| ());
        assert_eq!(
            unterminated.map_err(|e| e.error_code),
            Err("MALFORMED_QUERY")
        );
        let quoted_date =
            parse_query("SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01'").map(|_| ());
        assert_eq!(quoted_date.map_err(|e| e.error_code), Err("INVALID_FIELD"));
    }

    #[test]
    fn like_patterns() {
        // GIVEN LIKE patterns
        // WHEN matching
        // THEN % and _ behave as wildcards
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("abc", "%"));
    }
}
