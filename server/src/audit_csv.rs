//! `GET /audit.csv`: the audit log as CSV for a signed-in admin, with the
//! filters of `/audit`, streamed a page at a time so that a million entries
//! never sit in memory at once.

use app::api::audit::AuditQuery;
use app::domain::audit::{self, Filter, Record};
use app::domain::Keyport;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Entries read per query while streaming.
const BATCH: i64 = 1000;

const HEADER: &str = "id,time_utc,actor,action,target,client_id,detail,address\r\n";

pub async fn export(
    State(keyport): State<Keyport>,
    session: tower_sessions::Session,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(user) = crate::session_user(&keyport, &session).await else {
        return (StatusCode::UNAUTHORIZED, "Sign in to export the audit log.").into_response();
    };
    let Ok(Query(query)) = query else {
        return (StatusCode::BAD_REQUEST, "The filters are malformed.").into_response();
    };
    let filter = match query.to_filter(&user) {
        Ok(filter) => filter,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = match e {
                app::api::AppError::Invalid(fields) => fields
                    .into_iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            return (status, message).into_response();
        }
    };
    let rows = futures::stream::unfold(Some(filter), move |state| {
        let keyport = keyport.clone();
        async move {
            let mut filter: Filter = state?;
            match audit::search(&keyport.db, &filter, BATCH).await {
                Ok(entries) if entries.is_empty() => None,
                Ok(entries) => {
                    let more = entries.len() as i64 == BATCH;
                    filter.before = entries.last().map(|e| e.id);
                    let chunk: String = entries.iter().map(line).collect();
                    Some((Ok(chunk), more.then_some(filter)))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
            }
        }
    });
    let body = futures::StreamExt::chain(
        futures::stream::once(async { Ok::<_, std::io::Error>(HEADER.to_owned()) }),
        rows,
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keyport-audit.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

fn line(e: &Record) -> String {
    let fields = [
        e.id.to_string(),
        app::time::rfc3339(e.at),
        e.actor.clone(),
        e.action.clone(),
        e.target.clone().unwrap_or_default(),
        e.client_id.clone().unwrap_or_default(),
        e.detail.clone().unwrap_or_default(),
        e.address.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// One CSV field (RFC 4180). A value a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'`.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
