//! The web UI's build (`web-ui/dist`), embedded in the binary; unknown non-API paths get
//! `index.html` so the single-page app can route them.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web-ui/dist"]
#[allow_missing = true]
struct Dist;

pub async fn serve(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    if let Some(file) = Dist::get(path).filter(|_| !path.is_empty()) {
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return HttpResponse::Ok()
            .content_type(file.metadata.mimetype())
            .insert_header((header::CACHE_CONTROL, cache))
            .body(file.data.into_owned());
    }
    match Dist::get("index.html") {
        Some(index) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(index.data.into_owned()),
        None => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
            "<!doctype html><title>Trellis</title><p>Trellis is running. The web UI was not built into this binary: \
             run <code>just run</code> (it builds web-ui first). The API is at <a href=\"/docs/\">/docs/</a>.</p>",
        ),
    }
}
