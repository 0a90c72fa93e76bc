//! The knowledge base: help articles in Markdown that admins write (`/api/kb/articles`),
//! visitors search (`/api/kb/search`) and read (`/kb/:slug`, rendered safely: [`render`]),
//! and the assistant answers from; and the auto-reply rules (`/api/auto-replies`,
//! [`rules`]) that answer without a model.
//!
//! The database holds the articles and rules. Each node keeps what answering needs in memory:
//! a full-text index of the published articles ([`index`]) and the compiled active rules,
//! loaded at start and changed after every write. With several nodes, a write is announced on
//! Redis (`cluster::kb`) and every other node re-reads what changed, so each node's copy
//! follows the database; when Redis is back after an outage, a node rebuilds everything (it
//! may have missed announcements).

pub mod http;
pub mod index;
pub mod render;
pub mod rules;
pub mod service;
pub mod types;

use std::sync::{Arc, OnceLock, RwLock};

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::error::{AppError, AppResult};
use index::{Hit, IndexedArticle, KbIndex, Search};
use rules::Rule;

/// What changed, as the nodes tell each other: an article by id, the rules, or everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Article(String),
    Rules,
    All,
}

impl Change {
    /// As sent between nodes: `a:<id>`, `rules`, `all`.
    pub fn encode(&self) -> String {
        match self {
            Change::Article(id) => format!("a:{id}"),
            Change::Rules => "rules".into(),
            Change::All => "all".into(),
        }
    }

    pub fn decode(s: &str) -> Option<Change> {
        match s {
            "rules" => Some(Change::Rules),
            "all" => Some(Change::All),
            _ => s
                .strip_prefix("a:")
                .filter(|id| !id.is_empty())
                .map(|id| Change::Article(id.to_string())),
        }
    }
}

/// Tells the other nodes about a change (encoded with [`Change::encode`]).
pub type Announce = Box<dyn Fn(&str) + Send + Sync>;

/// How the knowledge base answers.
#[derive(Debug, Clone)]
pub struct Settings {
    pub min_match: f32,
    pub passages: usize,
    pub passage_chars: usize,
    /// Put before article paths in automatic answers (no trailing slash).
    pub public_url: String,
}

impl Settings {
    pub fn of(c: &Config) -> Self {
        Settings {
            min_match: c.kb_min_match.clamp(0.0, 1.0),
            passages: c.kb_passages.clamp(1, 10),
            passage_chars: c.kb_passage_chars.clamp(100, 4000),
            public_url: c.kb_public_url.trim().trim_end_matches('/').to_string(),
        }
    }
}

/// A passage given to the model, or quoted to the visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub title: String,
    pub link: String,
    pub text: String,
}

/// The length of the excerpt quoted in an automatic answer.
pub const EXCERPT_CHARS: usize = 200;

/// This node's copy of the knowledge base.
pub struct Knowledge {
    db: DatabaseConnection,
    index: Arc<KbIndex>,
    rules: RwLock<Arc<Vec<Rule>>>,
    settings: Settings,
    announce: OnceLock<Announce>,
}

impl Knowledge {
    /// Loads the articles and rules of the database.
    pub async fn load(db: DatabaseConnection, config: &Config) -> anyhow::Result<Arc<Knowledge>> {
        let kb = Arc::new(Knowledge {
            db,
            index: Arc::new(KbIndex::new()?),
            rules: RwLock::new(Arc::new(Vec::new())),
            settings: Settings::of(config),
            announce: OnceLock::new(),
        });
        kb.reload(&Change::All).await?;
        Ok(kb)
    }

    /// Sets how changes reach the other nodes (once).
    pub fn on_change(&self, announce: Announce) {
        let _ = self.announce.set(announce);
    }

    /// Something changed here: update this node's copy, then tell the others.
    pub async fn changed(&self, change: Change) -> AppResult<()> {
        let result = self.reload(&change).await;
        if let Some(announce) = self.announce.get() {
            announce(&change.encode());
        }
        result
    }

    /// Re-reads what changed from the database (what another node's announcement does here).
    pub async fn reload(&self, change: &Change) -> AppResult<()> {
        match change {
            Change::Article(id) => {
                let article = service::article(&self.db, id)
                    .await?
                    .filter(|a| a.published)
                    .map(|a| indexed(&a));
                let index = self.index.clone();
                let id = id.clone();
                blocking(move || index.set(&id, article.as_ref())).await
            }
            Change::Rules => self.reload_rules().await,
            Change::All => {
                self.reload_rules().await?;
                let articles: Vec<IndexedArticle> = service::articles(&self.db, false)
                    .await?
                    .iter()
                    .map(indexed)
                    .collect();
                let index = self.index.clone();
                blocking(move || index.rebuild(&articles)).await
            }
        }
    }

    async fn reload_rules(&self) -> AppResult<()> {
        let compiled: Vec<Rule> = service::rules(&self.db)
            .await?
            .into_iter()
            .filter(|r| r.active)
            .filter_map(|r| match Rule::new(r.id.clone(), &r.pattern, r.reply) {
                Ok(rule) => Some(rule),
                Err(e) => {
                    tracing::warn!(rule = %r.id, error = %e, "auto-reply rule skipped");
                    None
                }
            })
            .collect();
        if let Ok(mut rules) = self.rules.write() {
            *rules = Arc::new(compiled);
        }
        Ok(())
    }

    fn rules(&self) -> Arc<Vec<Rule>> {
        self.rules
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|_| Arc::new(Vec::new()))
    }

    /// Whether there is anything to answer from without a model (an active rule or a
    /// published article): with neither, the desk behaves as if there were no assistant.
    pub fn can_answer(&self) -> bool {
        !self.rules().is_empty() || self.has_articles()
    }

    /// Whether any article is published.
    pub fn has_articles(&self) -> bool {
        !self.index.is_empty()
    }

    /// Whether `question` has any word an article could be found by (not only "hi" or
    /// "how do I").
    pub fn is_searchable(&self, question: &str) -> bool {
        !self.index.terms(question).is_empty()
    }

    /// The reply of the first active rule matching `message`.
    pub fn rule_reply(&self, message: &str) -> Option<String> {
        rules::first_match(&self.rules(), message).map(|r| r.reply.clone())
    }

    /// Public search: published articles with any of the words, best first.
    pub fn search(&self, q: &str, limit: usize) -> AppResult<Vec<Hit>> {
        self.index
            .search(
                q,
                Search {
                    limit: limit.clamp(1, 50),
                    min_match: 0.0,
                    snippet_chars: EXCERPT_CHARS,
                },
            )
            .map_err(index_error)
    }

    /// The passages relevant enough to answer `question` from (best first; none when no
    /// article covers enough of it).
    pub fn passages(&self, question: &str, limit: usize, chars: usize) -> Vec<Passage> {
        let found = self.index.search(
            question,
            Search {
                limit,
                min_match: self.settings.min_match,
                snippet_chars: chars,
            },
        );
        match found {
            Ok(hits) => hits
                .into_iter()
                .map(|h| Passage {
                    link: self.link(&h.slug),
                    title: h.title,
                    text: h.snippet,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "knowledge base search failed");
                Vec::new()
            }
        }
    }

    /// The passages given to the model with a question.
    pub fn grounding(&self, question: &str) -> Vec<Passage> {
        self.passages(
            question,
            self.settings.passages,
            self.settings.passage_chars,
        )
    }

    /// The best article for an automatic answer, with a short excerpt.
    pub fn best_article(&self, question: &str) -> Option<Passage> {
        self.passages(question, 1, EXCERPT_CHARS).into_iter().next()
    }

    /// An article's link as visitors follow it.
    pub fn link(&self, slug: &str) -> String {
        format!("{}{}", self.settings.public_url, types::article_path(slug))
    }
}

fn indexed(a: &entity::kb_article::Model) -> IndexedArticle {
    IndexedArticle {
        id: a.id.clone(),
        slug: a.slug.clone(),
        title: a.title.clone(),
        tags: types::stored_tags(&a.tags),
        text: render::to_text(&a.body),
    }
}

fn index_error(e: tantivy::TantivyError) -> AppError {
    AppError::Internal(anyhow::anyhow!("knowledge base index: {e}"))
}

/// Runs an index write off the async workers (a commit, or a rebuild of every article).
async fn blocking(f: impl FnOnce() -> tantivy::Result<()> + Send + 'static) -> AppResult<()> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("knowledge base index task: {e}")))?
        .map_err(index_error)
}

impl crate::cluster::kb::Followable for Knowledge {
    fn on_change(&self, announce: Announce) {
        Knowledge::on_change(self, announce);
    }
    fn reload(&self, change: &str) -> futures::future::BoxFuture<'_, ()> {
        let change = Change::decode(change);
        Box::pin(async move {
            let Some(change) = change else { return };
            if let Err(e) = Knowledge::reload(self, &change).await {
                tracing::warn!(error = %e, ?change, "knowledge base not reloaded");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn changes_travel_as_text() {
        for c in [Change::Article("a1".into()), Change::Rules, Change::All] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        assert_eq!(Change::decode("a:"), None);
        assert_eq!(Change::decode("junk"), None);
    }
}
