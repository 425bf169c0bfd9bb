//! The caller's own preferences: the web UI's language, remembered per user (none: the
//! browser's language decides).

use serde::Serialize;
use serde_json::Value;
use trellis_core::error::FieldCode;
use trellis_core::{Error, FieldError};
use trellis_store::StoreError;
use trellis_store::preferences::{self, PreferencesRow};
use utoipa::ToSchema;

use crate::Engine;
use crate::context::TenantCtx;

/// A language of the web UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Language {
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en-US")]
    EnUs,
}

impl Language {
    pub fn tag(self) -> &'static str {
        match self {
            Language::ZhCn => "zh-CN",
            Language::EnUs => "en-US",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Language> {
        match tag {
            "zh-CN" => Some(Language::ZhCn),
            "en-US" => Some(Language::EnUs),
            _ => None,
        }
    }
}

/// A user's preferences.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preferences {
    /// The web UI's language; none: the browser's language.
    #[schema(required = true)]
    pub language: Option<Language>,
}

impl Engine {
    /// The caller's preferences (the defaults when none were saved).
    pub async fn my_preferences(&self, ctx: &TenantCtx) -> Result<Preferences, Error> {
        let row = preferences::get(&self.db.read, ctx.tenant_id(), ctx.user_id()).await?;
        Ok(Preferences {
            // A tag this build does not know (stored by a later one) reads as none.
            language: row.language.as_deref().and_then(Language::from_tag),
        })
    }

    /// Changes the caller's preferences: each member sent replaces the stored one (`null`
    /// clears it), members left out stay. A language other than `zh-CN` and `en-US` answers 422
    /// (`language`, `option`) and writes nothing.
    pub async fn set_my_preferences(&self, ctx: &TenantCtx, language: Option<&Value>) -> Result<Preferences, Error> {
        let mut row = preferences::get(&self.db.read, ctx.tenant_id(), ctx.user_id()).await?;
        if let Some(v) = language {
            let lang = match v {
                Value::Null => None,
                Value::String(s) => Some(Language::from_tag(s).ok_or_else(|| bad_language(v))?),
                _ => return Err(bad_language(v)),
            };
            row = PreferencesRow {
                language: lang.map(|l| l.tag().to_string()),
            };
        }
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        preferences::put(
            &tx,
            ctx.tenant_id(),
            ctx.user_id(),
            &row,
            trellis_core::value::now_micros(),
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.my_preferences(ctx).await
    }
}

fn bad_language(v: &Value) -> Error {
    Error::validation(vec![FieldError::new(
        "language",
        FieldCode::Option,
        format!("{v} is not a language: zh-CN or en-US (or null for the browser's)"),
    )])
}
