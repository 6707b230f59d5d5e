//! Derived fields: values computed from other canonical fields instead of read from a system.
//!
//! - A **template** fills `{field}` placeholders: `"{first_name} {last_name}"`. A missing value
//!   renders as nothing, runs of spaces collapse and the result is trimmed, so a contact without
//!   a first name becomes `"Lopez"`, not `" Lopez"`. `{{` and `}}` are literal braces.
//! - A **conditional** picks one of two templates: `when: "lead_score >= 75"`, `then: "Hot"`,
//!   `else: "Warm"`. Operators: `==`, `!=` (text or number), `>=`, `<=`, `>`, `<` (numbers);
//!   `is_empty` / `is_set` take no operand. A comparison with a missing or non-numeric value is
//!   false, so it takes the `else` branch.
//!
//! Derived values are computed from the merged values of a pair (what both sides agree on after
//! the merge) and written to one side only.

use crate::contact::CanonicalContact;
use std::fmt;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field(String),
}

/// Why a template or condition cannot be used (the mapping loader adds file and field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivationError(pub String);

impl fmt::Display for DerivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, DerivationError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(DerivationError(format!(
                                    "bad template `{text}`: `{{` without a closing `}}`"
                                )));
                            }
                        }
                    }
                    let name = name.trim().to_string();
                    if name.is_empty() {
                        return Err(DerivationError(format!(
                            "bad template `{text}`: empty placeholder `{{}}`"
                        )));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name));
                }
                '}' => {
                    return Err(DerivationError(format!(
                        "bad template `{text}`: `}}` without an opening `{{` (write `}}}}` for a brace)"
                    )));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The canonical fields the template reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Renders against `values`; `None` when the result is empty.
    pub fn render(&self, values: &CanonicalContact) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(name) => out.push_str(values.get(name).unwrap_or("")),
            }
        }
        let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
        (!collapsed.is_empty()).then_some(collapsed)
    }
}

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
    IsEmpty,
    IsSet,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    None,
    Number(f64),
    Text(String),
}

/// `<field> <operator> <operand>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    field: String,
    operator: Operator,
    operand: Operand,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, DerivationError> {
        let bad = |why: &str| {
            DerivationError(format!(
                "bad condition `{text}`: {why} (write e.g. `lead_score >= 75`, `status == \"Gold\"`, `title is_set`)"
            ))
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '!' | '<' | '>'))
            .ok_or_else(|| bad("no operator"))?;
        let (field, rest) = trimmed.split_at(split);
        let rest = rest.trim_start();
        let (operator, operand) = [
            ("is_empty", Operator::IsEmpty),
            ("is_set", Operator::IsSet),
            (">=", Operator::Ge),
            ("<=", Operator::Le),
            ("==", Operator::Eq),
            ("!=", Operator::Ne),
            (">", Operator::Gt),
            ("<", Operator::Lt),
        ]
        .into_iter()
        .find_map(|(token, op)| rest.strip_prefix(token).map(|r| (op, r.trim())))
        .ok_or_else(|| bad("unknown operator"))?;
        let operand = match operator {
            Operator::IsEmpty | Operator::IsSet if operand.is_empty() => Operand::None,
            Operator::IsEmpty | Operator::IsSet => return Err(bad("takes no value")),
            _ if operand.is_empty() => return Err(bad("missing value")),
            _ => {
                if let Some(quoted) = operand.strip_prefix('"').and_then(|o| o.strip_suffix('"')) {
                    Operand::Text(quoted.to_string())
                } else if let Ok(n) = operand.parse::<f64>() {
                    Operand::Number(n)
                } else {
                    return Err(bad("the value must be a number or a \"quoted\" text"));
                }
            }
        };
        if matches!(
            operator,
            Operator::Ge | Operator::Le | Operator::Gt | Operator::Lt
        ) && !matches!(operand, Operand::Number(_))
        {
            return Err(bad("ordering operators compare numbers"));
        }
        Ok(Condition {
            field: field.to_string(),
            operator,
            operand,
        })
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn holds(&self, values: &CanonicalContact) -> bool {
        let value = values.get(&self.field);
        let number = value.and_then(|v| v.parse::<f64>().ok());
        match (&self.operator, &self.operand) {
            (Operator::IsEmpty, _) => value.is_none(),
            (Operator::IsSet, _) => value.is_some(),
            (Operator::Eq, Operand::Text(t)) => value == Some(t.as_str()),
            (Operator::Ne, Operand::Text(t)) => value != Some(t.as_str()),
            (Operator::Eq, Operand::Number(n)) => number == Some(*n),
            (Operator::Ne, Operand::Number(n)) => number != Some(*n),
            (Operator::Ge, Operand::Number(n)) => number.is_some_and(|v| v >= *n),
            (Operator::Le, Operand::Number(n)) => number.is_some_and(|v| v <= *n),
            (Operator::Gt, Operand::Number(n)) => number.is_some_and(|v| v > *n),
            (Operator::Lt, Operand::Number(n)) => number.is_some_and(|v| v < *n),
            _ => false,
        }
    }
}

/// How a derived field gets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Derivation {
    Template(Template),
    Conditional {
        when: Condition,
        then: Template,
        otherwise: Template,
    },
}

impl Derivation {
    /// Every canonical field the derivation reads.
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Derivation::Template(t) => t.fields().collect(),
            Derivation::Conditional {
                when,
                then,
                otherwise,
            } => std::iter::once(when.field())
                .chain(then.fields())
                .chain(otherwise.fields())
                .collect(),
        }
    }

    /// The derived value; `None` when it renders empty.
    pub fn value(&self, values: &CanonicalContact) -> Option<String> {
        match self {
            Derivation::Template(t) => t.render(values),
            Derivation::Conditional {
                when,
                then,
                otherwise,
            } => {
                if when.holds(values) {
                    then.render(values)
                } else {
                    otherwise.render(values)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(pairs: &[(&str, &str)]) -> CanonicalContact {
        pairs
            .iter()
            .fold(CanonicalContact::new(), |c, (k, v)| c.with(k, v))
    }

    #[test]
    fn templates_fill_placeholders_and_tidy_spaces() {
        // GIVEN a name template
        let t = Template::parse("{first_name} {last_name}").unwrap();
        // WHEN rendered with both, one, and no names
        // THEN missing values leave no stray spaces, and nothing renders as None
        assert_eq!(
            t.render(&contact(&[("first_name", "Ana"), ("last_name", "Lopez")]))
                .as_deref(),
            Some("Ana Lopez")
        );
        assert_eq!(
            t.render(&contact(&[("last_name", "Lopez")])).as_deref(),
            Some("Lopez")
        );
        assert_eq!(t.render(&CanonicalContact::new()), None);
        assert_eq!(
            t.fields().collect::<Vec<_>>(),
            vec!["first_name", "last_name"]
        );
    }

    #[test]
    fn literal_braces_are_doubled() {
        let t = Template::parse("{{id}}: {title}").unwrap();
        assert_eq!(
            t.render(&contact(&[("title", "CTO")])).as_deref(),
            Some("{id}: CTO")
        );
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        // GIVEN malformed templates WHEN parsed THEN each error names the problem
        for (text, expected) in [
            ("{first_name", "without a closing"),
            ("first}", "without an opening"),
            ("{} x", "empty placeholder"),
        ] {
            let e = Template::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn conditions_compare_numbers_and_texts() {
        // GIVEN conditions of each kind
        let hot = Condition::parse("lead_score >= 75").unwrap();
        let gold = Condition::parse("tier == \"Gold\"").unwrap();
        let has_title = Condition::parse("title is_set").unwrap();
        // WHEN evaluated
        // THEN numbers compare numerically, missing or non-numeric values are false
        assert!(hot.holds(&contact(&[("lead_score", "75")])));
        assert!(hot.holds(&contact(&[("lead_score", "80.5")])));
        assert!(!hot.holds(&contact(&[("lead_score", "74.9")])));
        assert!(!hot.holds(&contact(&[("lead_score", "high")])));
        assert!(!hot.holds(&CanonicalContact::new()));
        assert!(gold.holds(&contact(&[("tier", "Gold")])));
        assert!(!gold.holds(&contact(&[("tier", "gold")])));
        assert!(has_title.holds(&contact(&[("title", "CTO")])));
        assert!(!has_title.holds(&CanonicalContact::new()));
    }

    #[test]
    fn a_conditional_picks_a_branch() {
        // GIVEN lead_score >= 75 → Hot else Warm
        let d = Derivation::Conditional {
            when: Condition::parse("lead_score >= 75").unwrap(),
            then: Template::parse("Hot").unwrap(),
            otherwise: Template::parse("Warm").unwrap(),
        };
        // THEN scores pick their branch and a missing score is Warm
        assert_eq!(
            d.value(&contact(&[("lead_score", "90")])).as_deref(),
            Some("Hot")
        );
        assert_eq!(d.value(&CanonicalContact::new()).as_deref(), Some("Warm"));
        assert_eq!(d.fields(), vec!["lead_score"]);
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        for (text, expected) in [
            ("lead_score", "no operator"),
            ("lead_score ~ 3", "unknown operator"),
            ("lead_score >= ", "missing value"),
            ("lead_score >= high", "number or a \"quoted\" text"),
            ("tier > \"Gold\"", "ordering operators compare numbers"),
            ("title is_set 3", "takes no value"),
        ] {
            let e = Condition::parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }
}
