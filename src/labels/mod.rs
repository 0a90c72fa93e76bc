//! Labels: admins define them (a name and a colour), agents put them on sessions, and the
//! desk's session lists filter by them. A session's labels are staff-only: they travel in
//! session summaries and `session_updated {sessionId, labels}` to agents, never to the
//! visitor's side.
//!
//! REST here: `GET /api/labels` (staff), `POST /api/labels {name, color}`, `PATCH` and
//! `DELETE /api/labels/:id` (admins). Putting labels on a session is the desk's
//! (`desk::labels`: `PUT /api/chats/:sessionId/labels`, socket `set_labels` on `/admin`).

pub mod http;
pub mod service;
pub mod types;
