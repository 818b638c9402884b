//! The rules of the Application Settings form (contract §3), each failure
//! naming its field.

use std::net::IpAddr;

use super::clients::RefreshLifetimes;
use super::{Error, Invalid, Keyport, Result};

pub const NAME_MAX: usize = 64;
pub const DESCRIPTION_MAX: usize = 500;
pub const URL_MAX: usize = 2048;
pub const ICON_MAX: usize = 256 * 1024;

/// Whether `text` can be stored at all: PostgreSQL's text holds every
/// character but NUL. No stored identifier, email or scope holds one, so a
/// lookup by such text finds nothing on either engine, without asking the
/// database (which on PostgreSQL would fail the query instead).
pub fn storable(text: &str) -> bool {
    !text.contains('\0')
}

/// A character no name, description, address or email may hold: a control
/// character, or a bidirectional override or isolate, which makes text read
/// otherwise than it is stored (`abc\u{202E}gpj.exe` reads "abcexe.jpg").
pub fn is_hidden_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The form as submitted.
#[derive(Debug, Clone, Default)]
pub struct ApplicationInput {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub website_url: String,
    pub callback_url: String,
    /// The uploaded icon's bytes, if a file was chosen (possibly cut short
    /// just past `ICON_MAX` by the reader).
    pub icon: Option<Vec<u8>>,
    /// A public client (no secret): chosen at registration, kept after.
    pub public: bool,
    /// Whether the authorization code grant may bring refresh tokens.
    pub refresh_tokens: bool,
    /// Refresh token lifetimes in seconds; `None`: the defaults.
    pub refresh_idle_seconds: Option<i64>,
    pub refresh_absolute_seconds: Option<i64>,
}

/// The shortest and longest a refresh token may be set to live, idle or
/// in all, in seconds: an hour, a year.
pub const REFRESH_LIFETIME_MIN: i64 = 3_600;
pub const REFRESH_LIFETIME_MAX: i64 = 365 * 86_400;

/// The form after every rule passed.
#[derive(Debug, Clone)]
pub struct ValidApplication {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub website_url: String,
    pub callback_url: String,
    pub icon: Option<Icon>,
    pub public: bool,
    pub refresh_tokens: bool,
    pub refresh: RefreshLifetimes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconKind {
    Png,
    Jpeg,
    Webp,
}

impl IconKind {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
        }
    }

    /// The image type told by the file's first bytes; the name and the
    /// browser's claimed type are not trusted.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct Icon {
    pub kind: IconKind,
    pub bytes: Vec<u8>,
}

pub async fn application(keyport: &Keyport, input: ApplicationInput) -> Result<ValidApplication> {
    let catalog: Vec<String> = sqlx::query_scalar("SELECT scope FROM permissions")
        .fetch_all(&keyport.db.pool)
        .await?;
    check(input, &catalog)
}

/// Every rule that needs no database, given the permission catalog. Each
/// field is checked on its own, so that every bad one is named at once.
pub fn check(input: ApplicationInput, catalog: &[String]) -> Result<ValidApplication> {
    let name = checked_name(&input.name);
    let description = checked_description(&input.description);
    let permissions = checked_permissions(input.permissions, catalog);
    let website_url = field("website_url", website(input.website_url.trim()))
        .map(|()| input.website_url.trim().to_owned());
    let callback_url = field("callback_url", callback(input.callback_url.trim()))
        .map(|()| input.callback_url.trim().to_owned());
    let icon = checked_icon(input.icon);
    let callback_url = callback_url.and_then(|url| match url.is_empty() && input.public {
        true => Err(Invalid::new(
            "callback_url",
            "A public application signs its users in through its callback URL: enter one.",
        )),
        false => Ok(url),
    });
    let refresh = checked_lifetimes(input.refresh_idle_seconds, input.refresh_absolute_seconds);
    let problems: Vec<Invalid> = [
        name.as_ref().err(),
        description.as_ref().err(),
        permissions.as_ref().err(),
        website_url.as_ref().err(),
        callback_url.as_ref().err(),
        icon.as_ref().err(),
        refresh.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    match (
        name,
        description,
        permissions,
        website_url,
        callback_url,
        icon,
        refresh,
    ) {
        (
            Ok(name),
            Ok(description),
            Ok(permissions),
            Ok(website_url),
            Ok(callback_url),
            Ok(icon),
            Ok(refresh),
        ) => Ok(ValidApplication {
            name,
            description,
            permissions,
            website_url,
            callback_url,
            icon,
            public: input.public,
            refresh_tokens: input.refresh_tokens,
            refresh,
        }),
        _ => Err(Error::Invalid(problems)),
    }
}

/// Refresh token lifetimes: each from an hour to a year, and an unused
/// token's no longer than the whole.
fn checked_lifetimes(
    idle: Option<i64>,
    absolute: Option<i64>,
) -> std::result::Result<RefreshLifetimes, Invalid> {
    let lifetimes = RefreshLifetimes {
        idle: idle.unwrap_or(RefreshLifetimes::DEFAULT.idle),
        absolute: absolute.unwrap_or(RefreshLifetimes::DEFAULT.absolute),
    };
    let range = REFRESH_LIFETIME_MIN..=REFRESH_LIFETIME_MAX;
    if !range.contains(&lifetimes.absolute) {
        return Err(Invalid::new(
            "refresh_absolute",
            "A refresh token may live from an hour to 365 days in all.",
        ));
    }
    if !range.contains(&lifetimes.idle) || lifetimes.idle > lifetimes.absolute {
        return Err(Invalid::new(
            "refresh_idle",
            "An unused refresh token may live from an hour to 365 days, and no longer than in all.",
        ));
    }
    Ok(lifetimes)
}

/// A rule's message, as the error of `field`.
fn field<T>(
    field: &'static str,
    checked: std::result::Result<T, String>,
) -> std::result::Result<T, Invalid> {
    checked.map_err(|message| Invalid::new(field, message))
}

fn checked_name(raw: &str) -> std::result::Result<String, Invalid> {
    let name = raw.trim().to_owned();
    let len = name.chars().count();
    let problem = if len == 0 {
        "Enter an application name.".to_owned()
    } else if len > NAME_MAX {
        format!("Use at most {NAME_MAX} characters ({len} given).")
    } else if name.chars().any(is_hidden_control) {
        "The name cannot contain control characters.".to_owned()
    } else {
        return Ok(name);
    };
    Err(Invalid::new("name", problem))
}

fn checked_description(raw: &str) -> std::result::Result<String, Invalid> {
    let description = raw.trim().replace("\r\n", "\n");
    let len = description.chars().count();
    let problem = if len > DESCRIPTION_MAX {
        format!("Use at most {DESCRIPTION_MAX} characters ({len} given).")
    } else if description
        .chars()
        .any(|c| is_hidden_control(c) && c != '\n' && c != '\t')
    {
        "The description cannot contain control characters.".to_owned()
    } else {
        return Ok(description);
    };
    Err(Invalid::new("description", problem))
}

/// The chosen permissions, each once, sorted; all from the catalog.
fn checked_permissions(
    chosen: Vec<String>,
    catalog: &[String],
) -> std::result::Result<Vec<String>, Invalid> {
    if chosen.iter().any(|scope| !catalog.contains(scope)) {
        return Err(Invalid::new(
            "permissions",
            "Choose permissions from the list.",
        ));
    }
    let mut permissions = chosen;
    permissions.sort();
    permissions.dedup();
    if permissions.is_empty() {
        return Err(Invalid::new(
            "permissions",
            "Choose at least one permission.",
        ));
    }
    Ok(permissions)
}

/// An icon, if one was sent: at most `ICON_MAX` bytes of PNG, JPEG or WebP.
fn checked_icon(bytes: Option<Vec<u8>>) -> std::result::Result<Option<Icon>, Invalid> {
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
        return Ok(None);
    };
    if bytes.len() > ICON_MAX {
        return Err(Invalid::new("icon", "The icon must be at most 256 KiB."));
    }
    match IconKind::sniff(&bytes) {
        Some(kind) => Ok(Some(Icon { kind, bytes })),
        None => Err(Invalid::new(
            "icon",
            "The icon must be a PNG, JPEG or WebP image (SVG is not accepted).",
        )),
    }
}

/// An absolute URL without credentials, spaces or control characters.
fn absolute(raw: &str) -> Result<url::Url, String> {
    if raw.len() > URL_MAX {
        return Err(format!("Use at most {URL_MAX} characters."));
    }
    if raw
        .chars()
        .any(|c| c.is_whitespace() || is_hidden_control(c))
    {
        return Err("The address cannot contain spaces or control characters.".into());
    }
    let url = url::Url::parse(raw)
        .map_err(|_| "Enter an absolute address, such as https://example.com/path.".to_string())?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("The address needs a host name.".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The address cannot contain a user name or password.".into());
    }
    Ok(url)
}

/// Optional; `http` or `https`.
pub fn website(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    let url = absolute(raw)?;
    match url.scheme() {
        "http" | "https" => Ok(()),
        _ => Err("The website must start with http:// or https://.".into()),
    }
}

/// Optional; `https`, or `http` for a loopback host only (a tool on the
/// admin's own machine); never a fragment (RFC 6749 §3.1.2).
pub fn callback(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    let url = absolute(raw)?;
    if url.fragment().is_some() {
        return Err("The callback URL cannot contain a fragment (#…).".into());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err(
            "Use https://, or http:// only for a loopback host such as http://127.0.0.1/callback."
                .into(),
        ),
        _ => Err(
            "The callback URL must start with https:// (or http:// for a loopback host).".into(),
        ),
    }
}

pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<String> {
        vec!["clients:read".into(), "clients:write".into()]
    }

    fn valid() -> ApplicationInput {
        ApplicationInput {
            name: "NAC gateway".into(),
            description: "Posture checks".into(),
            permissions: vec!["clients:read".into()],
            website_url: "https://nac.example.com".into(),
            callback_url: "http://127.0.0.1/opswat".into(),
            icon: Some(b"\x89PNG\r\n\x1a\n rest of a png".to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn public_clients_need_a_callback_and_lifetimes_stay_in_range() {
        let public = |callback: &str| ApplicationInput {
            public: true,
            callback_url: callback.into(),
            ..valid()
        };
        assert_eq!(fields(public("")), ["callback_url"]);
        assert!(fields(public("http://127.0.0.1/cb")).is_empty());
        let ok = check(valid(), &catalog()).unwrap();
        assert_eq!(
            ok.refresh,
            RefreshLifetimes::DEFAULT,
            "blank is the default"
        );
        let lifetimes = |idle: i64, absolute: i64| ApplicationInput {
            refresh_idle_seconds: Some(idle),
            refresh_absolute_seconds: Some(absolute),
            ..valid()
        };
        assert!(fields(lifetimes(3_600, 3_600)).is_empty());
        assert_eq!(
            fields(lifetimes(86_400, 3_600)),
            ["refresh_idle"],
            "idle past the whole"
        );
        assert_eq!(fields(lifetimes(60, 86_400)), ["refresh_idle"]);
        assert_eq!(
            fields(lifetimes(86_400, 400 * 86_400)),
            ["refresh_absolute"]
        );
        assert_eq!(fields(lifetimes(-1, 86_400)), ["refresh_idle"]);
    }

    fn fields(input: ApplicationInput) -> Vec<&'static str> {
        match check(input, &catalog()) {
            Err(Error::Invalid(problems)) => problems.into_iter().map(|p| p.field).collect(),
            Ok(_) => vec![],
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_complete_form_passes() {
        let ok = check(valid(), &catalog()).unwrap();
        assert_eq!(ok.icon.unwrap().kind, IconKind::Png);
        assert_eq!(ok.permissions, ["clients:read"]);
    }

    #[test]
    fn callback_urls_follow_the_loopback_rule() {
        for good in [
            "https://x.example/cb",
            "http://127.0.0.1/opswat",
            "http://localhost:8080/cb",
            "http://[::1]/cb",
            "",
        ] {
            assert!(callback(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x",
            "http://example.com/cb",
            "https://x/#frag",
            "https://x/cb#",
            "/relative",
            "https://u:p@x/cb",
            "https://x/a b",
            "javascript:alert(1)",
            "http://127.0.0.1.evil.example/cb",
        ] {
            assert!(callback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn websites_must_be_absolute_http() {
        assert!(website("https://example.com").is_ok());
        assert!(website("example.com").is_err());
        assert!(website("ftp://example.com").is_err());
        assert!(website("https://example.com/\r\nSet-Cookie:x").is_err());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut input = valid();
        input.name = " ".into();
        input.description = "x".repeat(501);
        input.permissions = vec![];
        input.website_url = "nope".into();
        input.callback_url = "ftp://x".into();
        input.icon = Some(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec());
        assert_eq!(
            fields(input),
            [
                "name",
                "description",
                "permissions",
                "website_url",
                "callback_url",
                "icon"
            ]
        );
    }

    #[test]
    fn text_cannot_hide_what_it_says() {
        for field in ["name", "description", "website_url"] {
            let mut input = valid();
            let spoof = "abc\u{202E}gpj.exe";
            match field {
                "name" => input.name = spoof.into(),
                "description" => input.description = spoof.into(),
                _ => input.website_url = format!("https://example.com/{spoof}"),
            }
            assert_eq!(fields(input), [field]);
        }
    }

    #[test]
    fn names_are_bounded() {
        let mut input = valid();
        input.name = "n".repeat(65);
        assert_eq!(fields(input), ["name"]);
        let mut input = valid();
        input.name = "é".repeat(64);
        assert_eq!(fields(input), Vec::<&str>::new());
    }

    #[test]
    fn icons_are_checked_by_their_bytes_and_size() {
        let mut input = valid();
        input.icon = Some(vec![0x89; ICON_MAX + 1]);
        assert_eq!(fields(input), ["icon"]);
        assert_eq!(
            IconKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(IconKind::Jpeg)
        );
        assert_eq!(
            IconKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(IconKind::Webp)
        );
        assert_eq!(IconKind::sniff(b"GIF89a"), None);
    }

    #[test]
    fn unknown_permissions_are_refused() {
        let mut input = valid();
        input.permissions = vec!["admin:everything".into()];
        assert_eq!(fields(input), ["permissions"]);
    }
}
