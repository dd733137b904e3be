//! The `oauth2` crate as the client.

use super::{TestApp, TestClient};

/// The HTTP client the `oauth2` crate talks through (no redirects, as its docs advise).
pub fn oauth2_http() -> oauth2::reqwest::Client {
    oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// An `oauth2` crate client for `client` at `app`'s discovered token endpoint,
/// authenticating as `auth` says.
pub async fn oauth2_client(
    app: &TestApp,
    client: &TestClient,
    auth: oauth2::AuthType,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    let meta = app.metadata().await;
    let url = meta["token_endpoint"].as_str().expect("token_endpoint");
    oauth2::basic::BasicClient::new(oauth2::ClientId::new(client.id.clone()))
        .set_client_secret(oauth2::ClientSecret::new(client.secret.clone()))
        .set_token_uri(oauth2::TokenUrl::new(url.into()).expect("url"))
        .set_auth_type(auth)
}
