//! The search engine of the knowledge base: a tantivy index in memory
//! (`Index::create_in_ram`) of the published articles, rebuilt from the database at start and
//! changed on every write (here, or on another node: see `cluster::kb`). The database is the
//! source of truth; this is a cache that can always be rebuilt.
//!
//! Text is analysed in English: lower case, English stop words dropped ([`STOP_WORDS`]), Snowball stemming
//! ("passwords" and "resetting" find "password" and "reset"). Ranking is tantivy's BM25 over
//! the title (weighted twice), the tags and the body (the Markdown's text).
//!
//! "Relevant enough" (what the assistant may answer from) is not a BM25 score: raw BM25 depends
//! on the size of the corpus, so one threshold cannot suit a desk of 3 articles and one of
//! 10,000. It is how much of the question an article covers: at least `min_match` of the
//! question's distinct terms (after stop words and stemming) must occur in it, which the
//! engine enforces itself (a boolean query whose clauses are the terms, with a minimum number
//! of clauses that must match). BM25 then orders those.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// The analyzer's name in the index.
const ANALYZER: &str = "kb_en";
/// A question's terms beyond this many are ignored (a pasted essay stays cheap to search).
const MAX_QUERY_TERMS: usize = 32;
/// The title counts this much more than the body.
const TITLE_BOOST: f32 = 2.0;

/// An article as the index holds it (published ones only).
#[derive(Debug, Clone)]
pub struct IndexedArticle {
    pub id: String,
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    /// The body's text (Markdown rendered to plain text).
    pub text: String,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub slug: String,
    pub title: String,
    /// The body's best passage for the query, as plain text.
    pub snippet: String,
    pub score: f32,
}

/// How to search.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub limit: usize,
    /// The share of the question's terms an article must contain (0: any one term).
    pub min_match: f32,
    /// The length of the snippet, in characters.
    pub snippet_chars: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    slug: Field,
    title: Field,
    tags: Field,
    body: Field,
}

/// The index, its reader, and its one writer.
pub struct KbIndex {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
}

/// English function words, and what visitors say around a question ("hi", "please"): they
/// say nothing about which article answers it, and left in they would count against an
/// article's share of the question. Snowball's English list, shortened, plus those.
const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he",
    "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "me", "my", "myself", "no", "nor", "not", "of", "on", "or", "our", "ours", "she", "should",
    "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "too", "us", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
    "yourself", "hi", "hello", "hey", "please", "thanks", "thank", "ok", "okay", "im", "ive",
    "dont", "don", "cant", "s", "t",
];

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

impl KbIndex {
    /// An empty index in memory.
    pub fn new() -> tantivy::Result<KbIndex> {
        let mut sb = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let fields = Fields {
            id: sb.add_text_field("id", STRING | STORED),
            slug: sb.add_text_field("slug", STRING | STORED),
            title: sb.add_text_field("title", text.clone()),
            tags: sb.add_text_field("tags", text.clone()),
            body: sb.add_text_field("body", text),
        };
        let index = Index::create_in_ram(sb.build());
        index.tokenizers().register(ANALYZER, analyzer());
        // One indexing thread with tantivy's smallest budget (15 MB): articles are few and
        // small, and a desk writes them one at a time.
        let writer = index.writer_with_num_threads(1, 15_000_000)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(KbIndex {
            reader,
            writer: Mutex::new(writer),
            fields,
            analyzer: analyzer(),
        })
    }

    fn document(&self, a: &IndexedArticle) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &a.id);
        doc.add_text(f.slug, &a.slug);
        doc.add_text(f.title, &a.title);
        doc.add_text(f.tags, a.tags.join(" "));
        doc.add_text(f.body, &a.text);
        doc
    }

    fn commit(&self, writer: &mut IndexWriter) -> tantivy::Result<()> {
        writer.commit()?;
        self.reader.reload()
    }

    fn lock(&self) -> tantivy::Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .lock()
            .map_err(|_| tantivy::TantivyError::InternalError("kb index writer poisoned".into()))
    }

    /// Replaces everything with `articles` (one commit).
    pub fn rebuild(&self, articles: &[IndexedArticle]) -> tantivy::Result<()> {
        let mut w = self.lock()?;
        w.delete_all_documents()?;
        for a in articles {
            w.add_document(self.document(a))?;
        }
        self.commit(&mut w)
    }

    /// Puts `article` in the index (replacing its earlier version), or takes it out when
    /// `None` (deleted or unpublished).
    pub fn set(&self, id: &str, article: Option<&IndexedArticle>) -> tantivy::Result<()> {
        let mut w = self.lock()?;
        w.delete_term(Term::from_field_text(self.fields.id, id));
        if let Some(a) = article {
            w.add_document(self.document(a))?;
        }
        self.commit(&mut w)
    }

    /// How many articles are indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The distinct terms of `text` as the index sees them (at most [`MAX_QUERY_TERMS`]).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            if seen.insert(t.text.clone()) {
                out.push(t.text.clone());
                if out.len() == MAX_QUERY_TERMS {
                    break;
                }
            }
        }
        out
    }

    /// The query: one clause per term (that term in the title, the tags or the body), of
    /// which at least `min_match` of all must match.
    fn query(&self, terms: &[String], min_match: f32) -> BooleanQuery {
        let f = self.fields;
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let in_field = |field: Field| -> Box<dyn Query> {
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    ))
                };
                let any: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(in_field(f.title), TITLE_BOOST)),
                    ),
                    (Occur::Should, in_field(f.tags)),
                    (Occur::Should, in_field(f.body)),
                ]));
                (Occur::Should, any)
            })
            .collect();
        let n = clauses.len();
        let needed = ((n as f32) * min_match.clamp(0.0, 1.0)).ceil() as usize;
        BooleanQuery::with_minimum_required_clauses(clauses, needed.clamp(1, n.max(1)))
    }

    /// The best articles for `q`.
    pub fn search(&self, q: &str, opts: Search) -> tantivy::Result<Vec<Hit>> {
        let terms = self.terms(q);
        if terms.is_empty() || opts.limit == 0 {
            return Ok(Vec::new());
        }
        let query = self.query(&terms, opts.min_match);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(opts.limit).order_by_score())?;
        if top.is_empty() {
            return Ok(Vec::new());
        }
        let mut snippets = SnippetGenerator::create(&searcher, &query, self.fields.body)?;
        snippets.set_max_num_chars(opts.snippet_chars.max(20));
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let text = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let fragment = snippets
                .snippet_from_doc(&doc)
                .fragment()
                .trim()
                .to_string();
            let snippet = if fragment.is_empty() {
                lead(&text(self.fields.body), opts.snippet_chars)
            } else {
                fragment
            };
            hits.push(Hit {
                id: text(self.fields.id),
                slug: text(self.fields.slug),
                title: text(self.fields.title),
                snippet,
                score,
            });
        }
        Ok(hits)
    }
}

/// The first `chars` characters of `text`, cut at a word boundary when there is one.
pub fn lead(text: &str, chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(chars) {
        None => text.to_string(),
        Some((end, _)) => {
            let cut = &text[..end];
            let cut = cut.rfind(char::is_whitespace).map_or(cut, |i| &cut[..i]);
            format!("{}…", cut.trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, tags: &[&str], text: &str) -> IndexedArticle {
        IndexedArticle {
            id: id.into(),
            slug: id.into(),
            title: title.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            text: text.into(),
        }
    }

    fn desk() -> KbIndex {
        let idx = KbIndex::new().expect("index");
        idx.rebuild(&[
            article(
                "reset-password",
                "Reset your password",
                &["account"],
                "Open Settings, then Security, and choose Reset password. We email you a link.",
            ),
            article(
                "refunds",
                "Refunds",
                &["billing"],
                "Refunds are paid back to the card within 5 business days of cancelling.",
            ),
            article(
                "shipping",
                "Shipping times",
                &["orders"],
                "Orders ship within two days. Tracking numbers arrive by email.",
            ),
        ])
        .expect("rebuild");
        idx
    }

    const STRICT: Search = Search {
        limit: 3,
        min_match: 0.5,
        snippet_chars: 120,
    };

    #[test]
    fn stemming_and_stop_words_find_the_article() {
        let idx = desk();
        let hits = idx
            .search("How do I reset my passwords?", STRICT)
            .expect("search");
        assert_eq!(
            hits.first().map(|h| h.slug.as_str()),
            Some("reset-password")
        );
        assert!(hits[0].snippet.contains("Reset password"), "{:?}", hits[0]);
    }

    #[test]
    fn a_question_covering_too_little_is_not_relevant() {
        let idx = desk();
        // one of four meaningful terms ("email") occurs: not enough
        assert!(idx
            .search("weather forecast tomorrow email", STRICT)
            .expect("search")
            .is_empty());
        // public search takes any term
        let any = Search {
            min_match: 0.0,
            ..STRICT
        };
        assert!(!idx
            .search("weather forecast tomorrow email", any)
            .expect("search")
            .is_empty());
    }

    #[test]
    fn changes_replace_and_remove() {
        let idx = desk();
        idx.set(
            "refunds",
            Some(&article(
                "refunds",
                "Refunds",
                &[],
                "Store credit only, no cash.",
            )),
        )
        .expect("set");
        let hits = idx.search("refund card", STRICT).expect("search");
        assert_eq!(hits.len(), 1);
        assert!(hits[0].snippet.contains("Store credit"), "{hits:?}");
        idx.set("refunds", None).expect("remove");
        assert!(idx.search("refund", STRICT).expect("search").is_empty());
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn only_stop_words_find_nothing() {
        assert!(desk()
            .search("how do I", STRICT)
            .expect("search")
            .is_empty());
    }

    #[test]
    fn lead_cuts_at_a_word() {
        assert_eq!(lead("one two three", 6), "one…");
        assert_eq!(lead("short", 10), "short");
    }
}
