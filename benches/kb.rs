//! Knowledge-base benchmark: `cargo bench --bench kb [-- ARTICLES QUERIES]`.
//!
//! Builds ARTICLES (default 10,000) generated help articles in Markdown (a title of 3 to 6
//! words, 3 to 6 paragraphs of 30 to 60 words drawn with a Zipf-like skew from a vocabulary of
//! 20,000 words and common English words), then measures, on the index the server uses
//! (`kb::index::KbIndex`, in memory):
//! - the rebuild at start: Markdown to text and indexing of every article, one commit;
//! - one article's change (what an edit costs: delete, add, commit, reload);
//! - search latency for QUERIES (default 2,000) visitor questions, as the assistant asks
//!   (3 passages of 600 characters, half the question's words required) and as the public
//!   search does (10 results, any word, 200-character snippets): p50, p95, p99, max.
//!
//! Questions are made from a random article's words with filler ("how do I ... ?"), so most
//! have an answer, plus one in ten of words no article has.

use std::time::{Duration, Instant};

use chatdesk::kb::index::{IndexedArticle, KbIndex, Search};
use chatdesk::kb::render;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VOCABULARY: usize = 20_000;
const COMMON: &[&str] = &[
    "the", "a", "to", "and", "of", "your", "you", "can", "is", "in", "for", "with", "on", "it",
    "account", "order", "password", "payment", "settings", "email", "refund", "shipping",
];

fn vocabulary(rng: &mut StdRng) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "zo", "pe", "ba", "do", "fu", "gi", "ha",
        "jo", "ku", "li", "mo", "nu", "ri", "so", "ta", "wi",
    ];
    (0..VOCABULARY)
        .map(|_| {
            let n = rng.random_range(2..=4);
            (0..n)
                .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
                .collect::<String>()
        })
        .collect()
}

/// A word, skewed towards the start of the vocabulary (rank ~ u^3).
fn word<'a>(rng: &mut StdRng, vocab: &'a [String]) -> &'a str {
    if rng.random_bool(0.3) {
        return COMMON[rng.random_range(0..COMMON.len())];
    }
    let u: f64 = rng.random();
    let i = ((u * u * u) * vocab.len() as f64) as usize;
    &vocab[i.min(vocab.len() - 1)]
}

fn words(rng: &mut StdRng, vocab: &[String], n: usize) -> Vec<String> {
    (0..n).map(|_| word(rng, vocab).to_string()).collect()
}

fn markdown(rng: &mut StdRng, vocab: &[String]) -> String {
    let mut md = String::new();
    for p in 0..rng.random_range(3..=6) {
        if p == 1 {
            md.push_str("## Steps\n\n");
        }
        let n = rng.random_range(30..=60);
        let mut ws = words(rng, vocab, n);
        if let Some(w) = ws.get_mut(3) {
            *w = format!("**{w}**");
        }
        md.push_str(&ws.join(" "));
        md.push_str(".\n\n");
    }
    md
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, mut times: Vec<Duration>, found: usize) {
    times.sort();
    println!(
        "{name}: {} queries, {found} with results; p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        times.len(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99)),
        ms(percentile(&times, 1.0)),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; the numbers are the first two plain arguments.
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let articles = args.first().copied().unwrap_or(10_000);
    let queries = args.get(1).copied().unwrap_or(2_000);
    let mut rng = StdRng::seed_from_u64(24);
    let vocab = vocabulary(&mut rng);

    let sources: Vec<(String, String)> = (0..articles)
        .map(|_| {
            let n = rng.random_range(3..=6);
            let title = words(&mut rng, &vocab, n).join(" ");
            (title, markdown(&mut rng, &vocab))
        })
        .collect();
    let bytes: usize = sources.iter().map(|(_, b)| b.len()).sum();
    println!(
        "{articles} articles, {:.1} MB of Markdown",
        bytes as f64 / 1e6
    );

    let index = KbIndex::new()?;
    let started = Instant::now();
    let docs: Vec<IndexedArticle> = sources
        .iter()
        .enumerate()
        .map(|(i, (title, body))| IndexedArticle {
            id: format!("a{i}"),
            slug: format!("article-{i}"),
            title: title.clone(),
            tags: vec!["bench".into()],
            text: render::to_text(body),
        })
        .collect();
    let to_text = started.elapsed();
    index.rebuild(&docs)?;
    let rebuild = started.elapsed();
    println!(
        "rebuild: {:.0} ms ({:.0} ms Markdown to text, {:.0} ms indexing and commit); {} indexed",
        ms(rebuild),
        ms(to_text),
        ms(rebuild - to_text),
        index.len()
    );

    let mut edits = Vec::new();
    for i in 0..20 {
        let mut doc = docs[i * 7 % docs.len()].clone();
        doc.text.push_str(" edited");
        let t = Instant::now();
        index.set(&doc.id, Some(&doc))?;
        edits.push(t.elapsed());
    }
    edits.sort();
    println!(
        "one article changed (delete, add, commit, reload): p50 {:.1} ms, max {:.1} ms",
        ms(percentile(&edits, 0.5)),
        ms(percentile(&edits, 1.0))
    );

    let questions: Vec<String> = (0..queries)
        .map(|i| {
            if i % 10 == 9 {
                return "where is the xylophone quartz jukebox".to_string();
            }
            let doc = &docs[rng.random_range(0..docs.len())];
            let pool: Vec<&str> = doc
                .title
                .split_whitespace()
                .chain(doc.text.split_whitespace())
                .collect();
            let picked: Vec<&str> = (0..rng.random_range(2..=4))
                .map(|_| pool[rng.random_range(0..pool.len())])
                .collect();
            format!("how do i {}?", picked.join(" "))
        })
        .collect();
    let modes = [
        (
            "assistant grounding (3 passages, half the words)",
            Search {
                limit: 3,
                min_match: 0.5,
                snippet_chars: 600,
            },
        ),
        (
            "public search (10 results, any word)",
            Search {
                limit: 10,
                min_match: 0.0,
                snippet_chars: 200,
            },
        ),
    ];
    for (name, opts) in modes {
        // warm-up
        for q in questions.iter().take(100) {
            index.search(q, opts)?;
        }
        let mut times = Vec::with_capacity(questions.len());
        let mut found = 0;
        for q in &questions {
            let t = Instant::now();
            let hits = index.search(q, opts)?;
            times.push(t.elapsed());
            found += usize::from(!hits.is_empty());
        }
        report(name, times, found);
    }
    Ok(())
}
