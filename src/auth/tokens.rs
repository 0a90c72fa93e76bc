//! JWT (HS256 only) issue and verification, and where the signing secret comes from.

use std::path::PathBuf;

use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{AppError, AppResult};

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    pub role: String,
    /// Token id, for revocation.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The account's token version when issued; bumping it revokes every older token.
    pub ver: i64,
}

/// Signing and verification keys.
pub struct JwtKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtKeys {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn sign(&self, claims: &Claims) -> AppResult<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.enc)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("token signing failed: {e}")))
    }

    /// Checks signature (HS256 only: `alg: none` and every other algorithm are refused)
    /// and expiry.
    pub fn verify(&self, token: &str) -> AppResult<Claims> {
        use jsonwebtoken::errors::ErrorKind;
        decode::<Claims>(token, &self.dec, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                AppError::Unauthorized(
                    match e.kind() {
                        ErrorKind::ExpiredSignature => "token expired",
                        ErrorKind::InvalidSignature => "token signature is invalid",
                        ErrorKind::InvalidAlgorithm => "token algorithm is not accepted",
                        _ => "token is invalid",
                    }
                    .into(),
                )
            })
    }
}

/// The signing secret: `JWT_SECRET` (at least 32 bytes), or one generated once and kept in a
/// file (mode 0600) beside the SQLite database. Never logged.
pub fn load_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = config.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
        if s.len() < 32 {
            anyhow::bail!(
                "JWT_SECRET must be at least 32 bytes long (it has {})",
                s.len()
            );
        }
        return Ok(s.as_bytes().to_vec());
    }
    let Some(path) = secret_file(&config.database_url) else {
        tracing::warn!(
            "JWT_SECRET is not set and the database is in memory: tokens last until restart"
        );
        return Ok(random_secret().into_bytes());
    };
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            crate::files::warn_if_shared(&path, "JWT secret file");
            tracing::info!(file = %path.display(), "JWT_SECRET not set: using the generated secret kept in this file");
            return Ok(existing.into_bytes());
        }
    }
    let secret = random_secret();
    crate::files::write_private(&path, secret.as_bytes())?;
    tracing::info!(file = %path.display(), "JWT_SECRET not set: generated a secret and kept it in this file (set JWT_SECRET for several nodes)");
    Ok(secret.into_bytes())
}

fn random_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `<sqlite file>.jwt-secret`, or `chatdesk.jwt-secret` in the working directory for other
/// databases; `None` for an in-memory database.
fn secret_file(database_url: &str) -> Option<PathBuf> {
    if !database_url.starts_with("sqlite:") {
        return Some(PathBuf::from("chatdesk.jwt-secret"));
    }
    let path = crate::db::sqlite_file(database_url)?;
    Some(PathBuf::from(format!("{}.jwt-secret", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_sits_beside_the_sqlite_database() {
        assert_eq!(
            secret_file("sqlite://data/desk.db?mode=rwc"),
            Some(PathBuf::from("data/desk.db.jwt-secret"))
        );
        assert_eq!(secret_file("sqlite::memory:"), None);
        assert_eq!(
            secret_file("postgres://x@h/db"),
            Some(PathBuf::from("chatdesk.jwt-secret"))
        );
    }

    #[test]
    fn refuses_a_short_secret() {
        let mut c = Config::for_tests("sqlite::memory:");
        c.jwt_secret = Some("too-short".into());
        assert!(load_secret(&c).is_err());
        c.jwt_secret = Some("x".repeat(32));
        assert!(load_secret(&c).is_ok());
    }

    #[test]
    fn tokens_round_trip_and_other_keys_fail() {
        let keys = JwtKeys::new(&[7u8; 32]);
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "a".into(),
            role: "agent".into(),
            jti: "j".into(),
            iat: now,
            exp: now + 60,
            ver: 0,
        };
        let t = keys.sign(&claims).expect("sign");
        assert_eq!(keys.verify(&t).map(|c| c.sub).ok(), Some("a".to_string()));
        let other = JwtKeys::new(&[8u8; 32]);
        assert_eq!(
            other.verify(&t).map_err(|e| e.code()).err(),
            Some("unauthorized")
        );
    }
}
