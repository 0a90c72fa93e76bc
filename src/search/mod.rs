//! Search (staff): the desk's conversations by the words in their messages and by who the
//! visitor is (session code, IP address, verified identifier). `GET /api/search?q=&limit=
//! &before=` answers newest first, one page at a time, each hit with a short snippet of its
//! message as text and the ranges of the words it matched (a console marks them without
//! ever reading the text as HTML). Private notes are found too (search is for staff only),
//! marked `private`.
//!
//! The words are matched by the database's own full-text search (see migration 000012):
//! PostgreSQL `websearch_to_tsquery('simple', q)` (every word must be in the message; `"a
//! phrase"`, `or`, `-word` as web search engines take them), SQLite FTS5 with each word
//! quoted (every word, as a prefix-free token; accents ignored).

pub mod http;
pub mod service;
pub mod types;
