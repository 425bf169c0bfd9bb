//! Request extractors: the authenticated caller and `If-Match` versions.

use std::future::Future;
use std::pin::Pin;
use trellis_core::error::FieldCode;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use trellis_core::Error;
use trellis_engine::{Engine, TenantCtx};

use crate::problem::ApiError;

/// Name of the cookie a browser login sets (read only by the documentation endpoints).
pub const SESSION_COOKIE: &str = "trellis_session";

/// The caller, from `Authorization: Bearer <token>`. Handlers that reach tenant data take this,
/// so none can run without a tenant context.
pub struct Caller(pub TenantCtx);

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let engine = engine.ok_or_else(|| ApiError(Error::internal("engine missing")))?;
            let token = token.ok_or_else(|| ApiError(Error::unauthenticated("send Authorization: Bearer <token>")))?;
            let ctx = engine.authenticate(&token).await?;
            crate::trace::record_caller(&ctx);
            Ok(Caller(ctx))
        })
    }
}

/// A caller who is a tenant administrator: anyone else is refused (403) before the body is
/// read, so a member learns nothing from how a body they may not send would be judged.
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.0.require_admin()?;
            Ok(Admin(caller))
        })
    }
}

/// The caller from a bearer token or, for read-only documentation, the session cookie.
pub async fn caller_or_cookie(req: &HttpRequest, engine: &Engine) -> Result<TenantCtx, ApiError> {
    let ctx = if let Some(t) = bearer(req) {
        engine.authenticate(&t).await?
    } else {
        match req.cookie(SESSION_COOKIE) {
            Some(c) => engine.authenticate(c.value()).await?,
            None => return Err(ApiError(Error::unauthenticated("send Authorization: Bearer <token>"))),
        }
    };
    crate::trace::record_caller(&ctx);
    Ok(ctx)
}

/// The version in `If-Match` (`"3"`, `W/"3"` or `3`); `*` or none means any version.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(h) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = h
        .to_str()
        .map_err(|_| {
            ApiError(Error::bad_field(
                "If-Match",
                FieldCode::Invalid,
                "is not a version ETag",
            ))
        })?
        .trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s.strip_prefix('"').unwrap_or(s);
    let s = s.strip_suffix('"').unwrap_or(s);
    // A version is digits only (`crate::spec::IF_MATCH_PATTERN` documents this).
    let digits = !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit());
    let invalid = || {
        ApiError(Error::bad_field(
            "If-Match",
            FieldCode::Invalid,
            "is not an ETag this API gave out",
        ))
    };
    if !digits {
        return Err(invalid());
    }
    s.parse::<i64>().map(Some).map_err(|_| invalid())
}

/// The ETag of a record version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A JSON body that must be an object. Merge patches and definitions are objects; `[]`, `42` or
/// `null` would otherwise read as "no keys given" and answer 200 having changed nothing (or worse,
/// having applied defaults), so they are refused with 400 before any use case runs.
pub struct JsonObject(pub serde_json::Value);

impl JsonObject {
    pub fn into_inner(self) -> serde_json::Value {
        self.0
    }
}

impl std::ops::Deref for JsonObject {
    type Target = serde_json::Value;
    fn deref(&self) -> &serde_json::Value {
        &self.0
    }
}

impl FromRequest for JsonObject {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let v = body.await?.into_inner();
            if !v.is_object() {
                return Err(ApiError(not_an_object(&v)).into());
            }
            Ok(JsonObject(v))
        })
    }
}

/// A JSON object body of a documented type: anything but an object is refused as by
/// [`JsonObject`] (serde would take an array for a struct), then the object must be of the type
/// (a member it does not take answers 422 `unknown_field`).
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonObject::from_request(req, payload);
        Box::pin(async move {
            let v = body.await?.into_inner();
            serde_json::from_value(v)
                .map(Body)
                .map_err(|e| ApiError(crate::problem::body_error(&e)).into())
        })
    }
}

/// A definition part (`app.schema.json`, `entity.schema.json`, …) as its Rust type: a body
/// that is not an object is refused as by [`JsonObject`]; one its schema refuses answers 422
/// listing every problem (not only serde's first).
pub struct Def<T>(pub T);

impl<T> Def<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: trellis_core::validate::Definition + 'static> FromRequest for Def<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonObject::from_request(req, payload);
        Box::pin(async move {
            let v = body.await?.into_inner();
            trellis_core::validate::parse_def::<T>(&v)
                .map(Def)
                .map_err(|e| ApiError(e).into())
        })
    }
}

/// A merge patch checked against its documented type; one that does not fit goes to the use
/// case as sent, which answers every problem of it at once.
pub fn checked<T: serde::de::DeserializeOwned + serde::Serialize>(raw: serde_json::Value) -> serde_json::Value {
    match serde_json::from_value::<T>(raw.clone()) {
        Ok(t) => serde_json::to_value(t).unwrap_or(raw),
        Err(_) => raw,
    }
}

/// A merge patch (or a request the use case reads as JSON) of a documented type with
/// `#[serde(deny_unknown_fields)]`: a member of the body the type does not take answers 422
/// `unknown_field` before anything is written. A body of the type goes to the use case as the
/// type writes it; one whose values do not fit the type goes as sent, and the use case answers
/// every problem of it at once (a definition part is checked whole against its schema).
pub fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    raw: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let members = members_of::<T>();
    if let Some(k) = raw
        .as_object()
        .and_then(|o| o.keys().find(|k| !members.contains(&k.as_str())))
    {
        return Err(ApiError(Error::validation(vec![trellis_core::FieldError::new(
            trellis_core::names::truncate(k, 64),
            FieldCode::UnknownField,
            "not a member of this body",
        )])));
    }
    Ok(match serde_json::from_value::<T>(raw.clone()) {
        Ok(t) => serde_json::to_value(t).unwrap_or(raw),
        Err(_) => raw,
    })
}

/// The members a struct deserializes from (their names in JSON), as its derived `Deserialize`
/// declares them.
fn members_of<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor, value::Error as DeError};
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = DeError;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
            Err(DeError::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, DeError> {
            *self.0 = fields;
            Err(DeError::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut members: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut members));
    members
}

/// A JSON body that may be left out (empty or `null`): `None` then. A body that is there must be of the
/// type, as with `web::Json` (a member it does not take is refused, never ignored).
pub fn optional_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError(crate::problem::body_error(&e)))?;
    if v.is_null() {
        return Ok(None);
    }
    if !v.is_object() {
        return Err(ApiError(not_an_object(&v)));
    }
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| ApiError(crate::problem::body_error(&e)))
}

/// A member of a merge patch that tells `null` (`Some(None)`) from absent (`None`, with
/// `#[serde(default)]`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// 400 naming what was sent instead of an object.
pub fn not_an_object(v: &serde_json::Value) -> Error {
    let kind = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    };
    Error::bad_field("body", FieldCode::Type, format!("must be a JSON object, not {kind}"))
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
        note: Option<Option<String>>,
        #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
        kind: Option<u8>,
    }

    #[test]
    fn a_typed_body_refuses_members_its_type_lacks_and_keeps_null() {
        assert_eq!(members_of::<Patch>(), ["note", "type"]);
        let refused = typed::<Patch>(json!({"note": "x", "colour": 1})).unwrap_err().0;
        assert_eq!(refused.errors[0].field, "colour");
        assert_eq!(refused.errors[0].code, "unknown_field");
        assert_eq!(typed::<Patch>(json!({"note": null})).unwrap(), json!({"note": null}));
        assert_eq!(typed::<Patch>(json!({"type": 3})).unwrap(), json!({"type": 3}));
        // A value that does not fit goes on as sent, for the use case to name.
        assert_eq!(typed::<Patch>(json!({"type": "x"})).unwrap(), json!({"type": "x"}));
    }
}
