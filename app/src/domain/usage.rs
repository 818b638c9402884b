//! How much each application is used: counted in memory as tokens are
//! issued and secrets refused, written in batches (issuing a token costs no
//! write), and read back as a day-by-day series for the last 30 days.

use std::collections::HashMap;
use std::sync::Mutex;

use super::clients::Client;
use super::clock::Timestamp;
use super::ids::ApplicationId;
use super::{Keyport, Result};

/// Days of usage the portal draws.
pub const DAYS: usize = 30;
const DAY: i64 = 86_400;

/// Counters not yet written, by application id and day.
#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<(ApplicationId, Timestamp), Delta>>,
}

#[derive(Default)]
struct Delta {
    issued: i64,
    failures: i64,
    /// Last use of each secret presented, by its stored hash.
    last_used: Vec<(String, Timestamp)>,
}

impl Usage {
    pub fn issued(&self, client: &Client, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let d = pending
            .entry((client.application_id.clone(), midnight(at)))
            .or_default();
        d.issued += 1;
        d.used(&client.secret_hash, at);
    }

    pub fn failed(&self, application_id: &ApplicationId, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .entry((application_id.clone(), midnight(at)))
            .or_default()
            .failures += 1;
    }

    fn take(&self) -> HashMap<(ApplicationId, Timestamp), Delta> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts back counts whose write failed (the database was unreachable),
    /// adding what was counted meanwhile, so that the next flush writes them.
    fn restore(&self, unwritten: HashMap<(ApplicationId, Timestamp), Delta>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (key, d) in unwritten {
            let now = pending.entry(key).or_default();
            now.issued += d.issued;
            now.failures += d.failures;
            for (hash, at) in d.last_used {
                now.used(&hash, at);
            }
        }
    }
}

impl Delta {
    fn used(&mut self, secret_hash: &str, at: Timestamp) {
        match self.last_used.iter_mut().find(|(h, _)| h == secret_hash) {
            Some((_, last)) => *last = (*last).max(at),
            None => self.last_used.push((secret_hash.to_owned(), at)),
        }
    }
}

/// One day of an application's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    /// Midnight UTC, Unix seconds.
    pub day: Timestamp,
    pub issued: i64,
    pub failures: i64,
}

fn midnight(at: Timestamp) -> Timestamp {
    at.div_euclid(DAY) * DAY
}

impl Keyport {
    /// Writes the usage counted on this node since the last flush.
    /// Counts whose write fails are kept for the next flush.
    pub async fn flush_usage(&self) -> Result<()> {
        let pending = self.usage.take();
        if pending.is_empty() {
            return Ok(());
        }
        let written = self.write_usage(&pending).await;
        if written.is_err() {
            self.usage.restore(pending);
        }
        written
    }

    async fn write_usage(
        &self,
        pending: &HashMap<(ApplicationId, Timestamp), Delta>,
    ) -> Result<()> {
        let mut tx = self.db.write().await?;
        for ((id, day), d) in pending {
            for (hash, at) in &d.last_used {
                // A secret is the current or the previous one; whichever it
                // is, its own last use moves, and the application's.
                for (hash_column, used_column) in [
                    ("secret_hash", "secret_last_used_at"),
                    ("previous_secret_hash", "previous_last_used_at"),
                ] {
                    sqlx::query(&format!(
                        "UPDATE applications SET {used_column} = $1 \
                         WHERE id = $2 AND {hash_column} = $3 \
                         AND ({used_column} IS NULL OR {used_column} < $1)"
                    ))
                    .bind(at)
                    .bind(id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "UPDATE applications SET last_used_at = $1 WHERE id = $2 \
                     AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO usage_daily (application_id, day, tokens_issued, auth_failures) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM applications WHERE id = $1) \
                 ON CONFLICT (application_id, day) DO UPDATE SET \
                 tokens_issued = usage_daily.tokens_issued + excluded.tokens_issued, \
                 auth_failures = usage_daily.auth_failures + excluded.auth_failures",
            )
            .bind(id)
            .bind(*day)
            .bind(d.issued)
            .bind(d.failures)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The last 30 days of one application, oldest first, today included;
    /// days without use are zeros.
    pub async fn usage_days(&self, application_id: &str) -> Result<Vec<Day>> {
        let first = midnight(self.now()) - (DAYS as i64 - 1) * DAY;
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT day, tokens_issued, auth_failures FROM usage_daily \
             WHERE application_id = $1 AND day >= $2",
        )
        .bind(application_id)
        .bind(first)
        .fetch_all(&self.db.pool)
        .await?;
        Ok((0..DAYS as i64)
            .map(|i| {
                let day = first + i * DAY;
                let (issued, failures) = rows
                    .iter()
                    .find(|(d, _, _)| *d == day)
                    .map_or((0, 0), |(_, issued, failures)| (*issued, *failures));
                Day {
                    day,
                    issued,
                    failures,
                }
            })
            .collect())
    }

    /// Tokens issued per day over the last 30 days, oldest first, for every
    /// application of a domain that was used in that time.
    pub async fn issued_by_application(
        &self,
        domain_id: &str,
    ) -> Result<HashMap<ApplicationId, [i64; DAYS]>> {
        let first = midnight(self.now()) - (DAYS as i64 - 1) * DAY;
        let rows: Vec<(ApplicationId, i64, i64)> = sqlx::query_as(
            "SELECT u.application_id, u.day, u.tokens_issued FROM usage_daily u \
             JOIN applications a ON a.id = u.application_id \
             WHERE a.domain_id = $1 AND u.day >= $2",
        )
        .bind(domain_id)
        .bind(first)
        .fetch_all(&self.db.pool)
        .await?;
        let mut series: HashMap<ApplicationId, [i64; DAYS]> = HashMap::new();
        for (id, day, issued) in rows {
            if let Ok(i) = usize::try_from((day - first) / DAY) {
                if i < DAYS {
                    series.entry(id).or_insert([0; DAYS])[i] += issued;
                }
            }
        }
        Ok(series)
    }

    /// The time before which an application's last use makes it unused.
    pub fn unused_since(&self) -> Timestamp {
        self.now() - self.unused_days * DAY
    }
}
