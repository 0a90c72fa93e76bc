//! Search on the wire, and the snippet with its highlighted ranges.

use serde::{Deserialize, Serialize};

/// The longest query, in characters.
pub const MAX_QUERY: usize = 200;
/// Characters of a message shown around the first word found.
pub const SNIPPET_CONTEXT: usize = 60;

/// `GET /api/search`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub limit: Option<u64>,
    /// `nextBefore` of the previous page.
    pub before: Option<String>,
}

/// One hit: a message; or, with `kind: "session"`, a session whose visitor matched; or,
/// with `kind: "conversation"`, a session holding every word only across several messages
/// (its snippet joins theirs).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    /// `message`; `session` when the code, IP or identifier matched; `conversation` when the
    /// words are spread over several messages of one session.
    pub kind: &'static str,
    pub session_id: String,
    pub code: String,
    pub message_id: Option<String>,
    pub seq: Option<i64>,
    pub sender: Option<String>,
    /// A private note (staff only).
    pub private: bool,
    /// Plain text, never HTML.
    pub snippet: String,
    /// `[start, end)` ranges of `snippet`, in characters, that matched the query.
    pub highlights: Vec<[usize; 2]>,
    pub created_at: String,
}

/// `{results, nextBefore?}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub results: Vec<Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// The words of a query, lower case, without the web-search punctuation around them.
pub fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| c.is_whitespace() || c == '"')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("or"))
        .map(str::to_lowercase)
        .collect()
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// The snippet of `text` around the first of `terms` found (case ignored), with every
/// occurrence of a term in it as a character range. Without a match: its beginning.
pub fn snippet(text: &str, terms: &[String]) -> (String, Vec<[usize; 2]>) {
    let chars: Vec<char> = text.chars().collect();
    let folded: Vec<char> = chars.iter().map(|&c| lower(c)).collect();
    let terms: Vec<Vec<char>> = terms
        .iter()
        .map(|t| t.chars().collect::<Vec<char>>())
        .filter(|t| !t.is_empty())
        .collect();
    let found_at = |i: usize| {
        terms
            .iter()
            .find(|t| folded[i..].starts_with(t))
            .map(Vec::len)
    };
    let first = (0..folded.len())
        .find(|&i| found_at(i).is_some())
        .unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_CONTEXT);
    let end = (first + 2 * SNIPPET_CONTEXT).min(chars.len());
    let mut out: String = chars[start..end].iter().collect();
    let mut offset = 0;
    if start > 0 {
        out.insert(0, '…');
        offset = 1;
    }
    if end < chars.len() {
        out.push('…');
    }
    let mut ranges = Vec::new();
    let mut i = start;
    while i < end {
        match found_at(i) {
            Some(n) if i + n <= end => {
                ranges.push([i - start + offset, i - start + offset + n]);
                i += n;
            }
            _ => i += 1,
        }
    }
    (out, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_drop_the_query_syntax() {
        assert_eq!(
            terms(r#""late parcel" OR -refund café!"#),
            ["late", "parcel", "refund", "café"]
        );
        assert!(terms("  \" ").is_empty());
    }

    #[test]
    fn snippets_are_text_around_the_first_match_with_every_match_marked() {
        let (s, h) = snippet("Hello, my Parcel is late. The parcel!", &terms("parcel"));
        assert_eq!(s, "Hello, my Parcel is late. The parcel!");
        assert_eq!(h, [[10, 16], [30, 36]]);
        let long = format!("{}needle{}", "a".repeat(100), "b".repeat(200));
        let (s, h) = snippet(&long, &terms("needle"));
        assert!(s.starts_with('…') && s.ends_with('…'));
        let marked: String = s.chars().skip(h[0][0]).take(h[0][1] - h[0][0]).collect();
        assert_eq!(marked, "needle");
        let (s, h) = snippet("<b>café</b>", &terms("CAFÉ"));
        assert_eq!((s.as_str(), h), ("<b>café</b>", vec![[3, 7]]));
    }
}
