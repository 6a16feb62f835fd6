//! Itinera's web service: the traveller site (`/`) and the admin portal (`/admin`), served as
//! HTML from Rust templates and reached through the gateway. It is a client of the platform
//! like any other: every page calls the public API through the gateway with the signed-in
//! user's token, and it keeps no database. Pages work as plain forms and links; one small
//! script adds instant filtering, seat-map selection and live flight status.

mod api;
mod config;
mod error;
mod layout;
mod pages;
mod session;

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use platform::auth::JwtVerifier;
use platform::config::{ConfigError, ConfigSource, RunMode, ServiceSpec, Settings};
use platform::service::{Context, Host, Parts, Service};

pub use config::Config;

/// The web service, as the host runs it.
pub struct Web;

/// A web instance, built and ready to run.
pub type Application = Host<Web>;

/// What pages may load: only this site's own styles, scripts and connections; images from
/// anywhere over HTTPS (hotel photos); never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' https: data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

impl Service for Web {
    type Config = Config;
    const SPEC: ServiceSpec = contracts::services::WEB;

    fn load(source: &ConfigSource, mode: RunMode) -> Result<Config, ConfigError> {
        Config::load(source, mode)
    }

    fn settings(config: &Config) -> &Settings {
        &config.settings
    }

    /// No database: every state is the platform's (kept in memory only: token renewals for 10 s
    /// and checkout submissions for a minute, so that repeats of either are answered once).
    fn migrator() -> Option<&'static platform::service::Migrator> {
        None
    }

    async fn build(config: Config, context: &Context) -> anyhow::Result<Parts> {
        let api = api::Api::new(&config.api_url)?;
        let sessions = session::Sessions::new(
            Arc::new(JwtVerifier::remote(&config.settings.jwt)),
            api.clone(),
            config.secure_cookies,
            config.trusted_proxies.clone(),
        );
        let pages = pages::router(pages::AppState {
            api,
            submissions: Default::default(),
        })
        .layer(axum::middleware::from_fn_with_state(
            sessions,
            session::layer,
        ));
        let site = pages
            .merge(layout::assets())
            .layer(axum::middleware::map_response(security_headers));
        let router = context.edge(env!("CARGO_PKG_VERSION")).build(site);
        Ok(Parts::new(router).note(format!("pages call the API at {}", config.api_url)))
    }
}

/// Headers every answer carries: the content policy, no sniffing, no referrer to other sites,
/// and (unless the answer says otherwise) no caching, since pages show a signed-in user's data.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
