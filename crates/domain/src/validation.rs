//! Validation errors that name the field and the reason, so pages and the API can say exactly
//! what was wrong. The `code` is a message-catalog key; nothing here carries the offending value,
//! so no personal data can leak into logs through an error.

use std::fmt;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The form field or API attribute, e.g. `login`.
    pub field: &'static str,
    /// A message-catalog key, e.g. `error.too_long`.
    pub code: &'static str,
    /// A number the message may show (a length limit, say).
    pub limit: Option<usize>,
    /// Names the message may show, for its `{name}` placeholders: facts of the region's
    /// directory (the support center that already serves a district, say), never personal data.
    pub args: Vec<(&'static str, String)>,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str) -> Self {
        Self { field, code, limit: None, args: Vec::new() }
    }

    pub fn with_limit(field: &'static str, code: &'static str, limit: usize) -> Self {
        Self { field, code, limit: Some(limit), args: Vec::new() }
    }

    /// The same error with a name for the message's `{name}` placeholder.
    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }
}

/// A set of field errors: the input was refused and nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn one(field: &'static str, code: &'static str) -> Self {
        Self(vec![FieldError::new(field, code)])
    }

    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no field failed, the collected errors otherwise.
    pub fn into_result(self) -> Result<(), Invalid> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// Checks a free-text field: trimmed, not empty when required, at most `max` characters, and no
/// control characters other than newlines and tabs.
pub fn text(field: &'static str, value: &str, required: bool, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return if required { Err(FieldError::new(field, "error.required")) } else { Ok(String::new()) };
    }
    if v.chars().count() > max {
        return Err(FieldError::with_limit(field, "error.too_long", max));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(FieldError::new(field, "error.control_chars"));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_empty_field_is_refused() {
        assert_eq!(text("name", "  ", true, 10).unwrap_err().code, "error.required");
    }

    #[test]
    fn an_over_long_field_is_refused_with_its_limit() {
        let e = text("name", &"あ".repeat(11), true, 10).unwrap_err();
        assert_eq!(e.code, "error.too_long");
        assert_eq!(e.limit, Some(10));
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(text("name", "a\u{0}b", true, 10).unwrap_err().code, "error.control_chars");
    }

    #[test]
    fn names_for_the_message_are_kept_but_not_shown_in_the_summary() {
        let e = FieldError::new("districts", "error.district_taken").arg("center", "センターA");
        assert_eq!(e.args, vec![("center", "センターA".to_string())]);
        assert_eq!(Invalid::from(e).to_string(), "districts: error.district_taken");
    }

    #[test]
    fn text_is_trimmed() {
        assert_eq!(text("name", " 金沢 ", true, 10).unwrap(), "金沢");
    }
}
