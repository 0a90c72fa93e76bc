//! Canned responses: saved replies an agent inserts by typing `/` and a short code in the
//! console's reply box. Shared ones belong to the desk (admins manage them); personal ones
//! to one agent (only they see and change them). Placeholders in the content
//! (`{{visitor}}`, `{{code}}`, `{{agent}}`) are filled by the console from the session it
//! answers in; the server stores the text as written.
//!
//! REST (staff): `GET /api/canned-responses` (shared and one's own, by short code; `?q=` a
//! prefix of the code), `POST {shortCode, content, shared}`, `PATCH` and `DELETE /:id`.

pub mod http;
pub mod service;
pub mod types;
