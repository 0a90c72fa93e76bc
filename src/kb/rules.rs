//! Auto-reply rules, as seed 000 has them (`"xin chào" -> "Xin chào! Tôi có thể giúp gì cho
//! bạn?"`): a visitor message that matches a rule's pattern is answered with its reply, with
//! no model. The first active rule that matches (oldest first) answers.
//!
//! A pattern is either
//! - a keyword or phrase, matched case-insensitively as whole words anywhere in the message
//!   (`refund` matches "Refund please" but not "refunded"; `xin chào` matches "Xin chào bạn");
//! - or a regular expression between slashes, `/^(hi|hello)\b/`, in the `regex` crate's
//!   syntax (linear time, no look-around), matched case-insensitively.

use regex::{Regex, RegexBuilder};

use crate::error::{AppError, AppResult};

/// Longest pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 500;
/// The compiled size a regular expression may take (a pattern cannot eat the node's memory).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    matcher: Regex,
    pub reply: String,
}

impl Rule {
    pub fn new(id: String, pattern: &str, reply: String) -> AppResult<Rule> {
        Ok(Rule {
            id,
            matcher: compile(pattern)?,
            reply,
        })
    }

    pub fn matches(&self, message: &str) -> bool {
        self.matcher.is_match(message)
    }
}

/// The regular expression a pattern stands for; `invalid_payload` when it is not one.
pub fn compile(pattern: &str) -> AppResult<Regex> {
    let p = pattern.trim();
    if p.is_empty() || p.chars().count() > MAX_PATTERN_CHARS {
        return Err(AppError::InvalidPayload(format!(
            "pattern must be 1 to {MAX_PATTERN_CHARS} characters"
        )));
    }
    let source = match p
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/'))
        .filter(|r| !r.is_empty())
    {
        Some(re) => re.to_string(),
        None => phrase(p),
    };
    RegexBuilder::new(&source)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| AppError::InvalidPayload(format!("pattern is not a valid regex: {e}")))
}

/// A phrase as whole words: spaces match any run of white space, and a word boundary is
/// required at each end that is a word character.
fn phrase(p: &str) -> String {
    let words: Vec<String> = p.split_whitespace().map(regex::escape).collect();
    let body = words.join(r"\s+");
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let start = if is_word(p.chars().next()) { r"\b" } else { "" };
    let end = if is_word(p.chars().last()) { r"\b" } else { "" };
    format!("{start}{body}{end}")
}

/// The reply of the first rule that matches.
pub fn first_match<'a>(rules: &'a [Rule], message: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| r.matches(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: &str) -> Rule {
        Rule::new("r".into(), p, "ok".into()).expect("valid")
    }

    #[test]
    fn phrases_match_whole_words_in_any_case() {
        let r = rule("refund");
        assert!(r.matches("Refund please"));
        assert!(r.matches("i want a REFUND!"));
        assert!(!r.matches("it was refunded"));
        let vi = rule("xin chào");
        assert!(vi.matches("Xin chào bạn"));
        assert!(vi.matches("xin   CHÀO"));
        assert!(!vi.matches("xin"));
        assert!(rule("c++").matches("do you support C++?"));
    }

    #[test]
    fn slashes_make_a_regex() {
        let r = rule(r"/^(hi|hello)\b/");
        assert!(r.matches("Hello there"));
        assert!(!r.matches("well hello"));
        assert!(rule("/a.c/").matches("ABC"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(compile("/(unclosed/").is_err());
        assert!(compile("   ").is_err());
        assert!(compile(&"x".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        // a pattern whose compiled form is too big
        assert!(compile(r"/\w{1000}\w{1000}\w{1000}/").is_err());
    }

    #[test]
    fn first_active_rule_wins() {
        let rules = vec![
            Rule::new("a".into(), "price", "A".into()).expect("valid"),
            Rule::new("b".into(), "price list", "B".into()).expect("valid"),
        ];
        assert_eq!(
            first_match(&rules, "send the price list").map(|r| r.id.as_str()),
            Some("a")
        );
        assert!(first_match(&rules, "hello").is_none());
    }
}
