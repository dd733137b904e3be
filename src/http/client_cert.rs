//! The client certificate a request came with (RFC 8705): from tessera's own TLS
//! handshake, kept with the connection.

use crate::oauth::certificate::PresentedCertificate;
use crate::oauth::OAuthError;
use actix_web::HttpRequest;

/// The certificate chain this request's connection presented, if any.
pub fn presented(req: &HttpRequest) -> Result<Option<PresentedCertificate>, OAuthError> {
    Ok(req.conn_data::<PresentedCertificate>().cloned())
}
