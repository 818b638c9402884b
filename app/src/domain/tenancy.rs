//! The customer this deployment serves and its domains (contract §2).

use sqlx::Row;
use uuid::Uuid;

use super::clock::Timestamp;
use super::ids::DomainId;
use super::store::Db;
use super::{Keyport, Result};

/// The name of the domain created on first start.
pub const DEFAULT_DOMAIN: &str = "default";
/// Applications a domain may hold unless configured otherwise.
pub const DEFAULT_APP_LIMIT: i64 = 63;

#[derive(Debug, Clone)]
pub struct Tenancy {
    pub customer_id: String,
    pub default_domain_id: DomainId,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Domain {
    pub id: DomainId,
    pub name: String,
    pub app_limit: i64,
}

impl Tenancy {
    /// Creates the customer and its default domain once; every later start,
    /// on any node, reads them back.
    pub async fn bootstrap(db: &Db, now: Timestamp) -> Result<Self> {
        let mut tx = db.write().await?;
        let first = sqlx::query(
            "INSERT INTO milestones (name, reached_at) VALUES ('tenancy', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if first {
            let customer_id = Uuid::new_v4().to_string();
            sqlx::query("INSERT INTO customers (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&customer_id)
                .bind("Keyport")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO domains (id, customer_id, name, app_limit, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(&customer_id)
            .bind(DEFAULT_DOMAIN)
            .bind(DEFAULT_APP_LIMIT)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;

        let row = sqlx::query(
            "SELECT d.customer_id, d.id FROM domains d WHERE d.name = $1 ORDER BY d.created_at LIMIT 1",
        )
        .bind(DEFAULT_DOMAIN)
        .fetch_one(&db.pool)
        .await?;
        Ok(Self {
            customer_id: row.try_get(0)?,
            default_domain_id: row.try_get(1)?,
        })
    }
}

pub async fn find_domain(db: &Db, id: &str) -> Result<Option<Domain>> {
    if !super::validate::storable(id) {
        return Ok(None);
    }
    Ok(
        sqlx::query_as("SELECT id, name, app_limit FROM domains WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub async fn list_domains(db: &Db) -> Result<Vec<Domain>> {
    Ok(
        sqlx::query_as("SELECT id, name, app_limit FROM domains ORDER BY name")
            .fetch_all(&db.pool)
            .await?,
    )
}

impl Keyport {
    /// The domain with this id, as read within `cache::FRESH_FOR_MS`.
    pub async fn domain(&self, id: &str) -> Result<Option<Domain>> {
        self.memory
            .domains
            .get_or_read(id, || find_domain(&self.db, id))
            .await
    }

    /// Every domain, as read within `cache::FRESH_FOR_MS`.
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        self.memory
            .all_domains
            .get_or_read(&(), || list_domains(&self.db))
            .await
    }
}
