//! Several nodes, one desk: with `REDIS_URL` set, socket.io rooms and broadcasts are shared
//! through the socketioxide-redis adapter (sessions and messages are already shared in
//! PostgreSQL). `/ready` reports whether Redis answers.

use std::time::Duration;

/// Checks that Redis answers (for `/ready`).
pub struct RedisHealth {
    client: redis::Client,
}

impl RedisHealth {
    pub fn new(client: redis::Client) -> Self {
        RedisHealth { client }
    }

    /// True when Redis answers a PING within a second.
    pub async fn is_healthy(&self) -> bool {
        let check = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), check).await,
            Ok(Ok(_))
        )
    }
}

/// The URL with RESP3 asked for (the adapter's driver needs it).
pub fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}
