//! An article's Markdown, made safe to show and plain to search.
//!
//! To HTML: `pulldown-cmark` with the raw HTML it would pass through dropped (`Event::Html`,
//! `Event::InlineHtml`), then `ammonia` over the result, which keeps a list of harmless tags
//! and attributes, allows only `http:`, `https:` and `mailto:` links (and relative ones), and
//! adds `rel="noopener noreferrer nofollow"`. Two layers: the first says what an article may
//! contain, the second holds whatever the first lets slip (a `javascript:` link is valid
//! Markdown). The page (`kb::http`) adds a strict Content-Security-Policy on top.

use std::collections::HashSet;

use pulldown_cmark::{html, Event, Options, Parser, TagEnd};

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// The article's body as sanitized HTML.
pub fn to_html(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, options())
        .filter(|e| !matches!(e, Event::Html(_) | Event::InlineHtml(_)));
    let mut raw = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut raw, events);
    let mut cleaner = ammonia::Builder::default();
    cleaner
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"));
    cleaner.clean(&raw).to_string()
}

/// The article's body as plain text (what is indexed and quoted): the words of the
/// Markdown, one line per block, without markup or raw HTML.
pub fn to_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::TableRow
                | TagEnd::BlockQuote(_),
            ) => out.push('\n'),
            Event::End(TagEnd::TableCell) => out.push(' '),
            _ => {}
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = to_html("# Title\n\nSome **bold** and a [link](https://example.com/a).");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(
            html.contains(
                r#"<a href="https://example.com/a" rel="noopener noreferrer nofollow">link</a>"#
            ),
            "{html}"
        );
    }

    #[test]
    fn script_raw_html_and_javascript_links_are_inert() {
        let md = "Hi <script>alert(1)</script> there\n\n<div onclick=\"steal()\">raw</div>\n\n\
                  [click](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n\
                  ![pic](javascript:alert(4)) [data](data:text/html;base64,PHNjcmlwdD4=)";
        let html = to_html(md);
        let lower = html.to_lowercase();
        for bad in [
            "<script",
            "onclick",
            "onerror",
            "javascript:",
            "data:text",
            "<div",
        ] {
            assert!(!lower.contains(bad), "{bad} in {html}");
        }
        assert!(html.contains("click"), "the link text stays: {html}");
    }

    #[test]
    fn text_has_no_markup() {
        let text = to_text("# Reset\n\nOpen **Settings** <b>now</b>.\n\n- one\n- two");
        assert_eq!(text, "Reset\nOpen Settings now.\none\ntwo");
    }
}
