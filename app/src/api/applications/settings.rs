//! The Application Settings form: registering an application and editing
//! it, read from a multipart body.

use crate::api::codec::JsonText;
use leptos::prelude::*;
use leptos::server_fn::codec::MultipartData;

use crate::api::multipart::SettingsForm;
use crate::api::AppError;

#[server(output = JsonText, input = SettingsForm, input_derive = (), prefix = "/rpc", endpoint = "applications/create")]
pub async fn create_application(data: MultipartData) -> Result<String, AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};
    use crate::domain::applications;

    let settings = body::read(data).await?;
    let id = form("application", &settings.kept(), async {
        let access = allow::<CreateApplication>().await?.access()?;
        let user = access.person()?;
        let keyport = keyport()?;
        let domain = applications::visible_domain(&keyport, user, settings.get("domain")).await?;
        let (app, _) = keyport
            .register_application(&access, &domain, settings.input())
            .await?;
        Ok(app.id)
    })
    .await?;
    leptos_axum::redirect(&format!("/applications/{id}"));
    Ok(id.into())
}

#[server(output = JsonText, input = SettingsForm, input_derive = (), prefix = "/rpc", endpoint = "applications/update")]
pub async fn update_application(data: MultipartData) -> Result<(), AppError> {
    use crate::api::access::allow;
    use crate::api::request::{form, keyport};

    let settings = body::read(data).await?;
    let id = settings.get("id").unwrap_or_default().to_owned();
    form("application", &settings.kept(), async {
        let access = allow::<UpdateApplication>().await?.access()?;
        keyport()?
            .update_application(&access, &id, settings.input())
            .await?;
        Ok(())
    })
    .await?;
    leptos_axum::redirect(&format!("/applications/{id}?saved=1"));
    Ok(())
}

#[cfg(feature = "ssr")]
mod body {
    //! The Application Settings form, read from a multipart body.

    use crate::api::AppError;
    use crate::domain::validate::{ApplicationInput, ICON_MAX};
    use leptos::server_fn::codec::MultipartData;

    #[derive(Default)]
    pub struct Form {
        fields: Vec<(String, String)>,
        icon: Option<Vec<u8>>,
    }

    fn malformed(e: impl std::fmt::Display) -> AppError {
        AppError::BadRequest(format!("unreadable form: {e}"))
    }

    pub async fn read(data: MultipartData) -> Result<Form, AppError> {
        let mut multipart = data
            .into_inner()
            .ok_or_else(|| malformed("not a multipart form"))?;
        let mut form = Form::default();
        while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "icon" {
                // Keep one byte past the limit, so that validation can say
                // "too large" without holding the whole upload.
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    let room = (ICON_MAX + 1).saturating_sub(bytes.len());
                    bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                form.icon = Some(bytes).filter(|b| !b.is_empty());
            } else {
                let text = field.text().await.map_err(malformed)?;
                form.fields.push((name, text));
            }
        }
        Ok(form)
    }

    impl Form {
        pub fn get(&self, name: &str) -> Option<&str> {
            self.fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn input(&self) -> ApplicationInput {
            let text = |name| self.get(name).unwrap_or_default().to_owned();
            ApplicationInput {
                name: text("name"),
                description: text("description"),
                permissions: self
                    .fields
                    .iter()
                    .filter(|(k, _)| k == "permissions")
                    .map(|(_, v)| v.clone())
                    .collect(),
                website_url: text("website_url"),
                callback_url: text("callback_url"),
                icon: self.icon.clone(),
                public: self.get("client_type") == Some("public"),
                refresh_tokens: self.get("refresh_tokens").is_some(),
                refresh_idle_seconds: self.days("refresh_idle_days"),
                refresh_absolute_seconds: self.days("refresh_absolute_days"),
            }
        }

        /// A number of days as seconds; blank: the default. Anything else
        /// that is not a whole number is out of range, and refused as such.
        fn days(&self, name: &str) -> Option<i64> {
            let text = self.get(name)?.trim();
            (!text.is_empty()).then(|| {
                text.parse::<i64>()
                    .ok()
                    .and_then(|days| days.checked_mul(86_400))
                    .unwrap_or(-1)
            })
        }

        /// What a refused plain post hands back to the form.
        pub fn kept(&self) -> Vec<(&str, &str)> {
            self.fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        }
    }
}
