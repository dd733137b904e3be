//! A client certificate presented with a request (RFC 8705): the chain as the TLS
//! handshake (or a trusted proxy's header) delivered it, leaf first, and the SHA-256
//! thumbprint a certificate-bound token's `cnf.x5t#S256` carries.
//!
//! Possession of the leaf's key was proven in the handshake (by tessera, or by the
//! trusted proxy); nothing here says whom the certificate belongs to: which client it
//! authenticates, and against which anchors its chain is verified, is decided per
//! request by client authentication.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Certificates in a presented chain at most (leaf and intermediates).
pub const MAX_CHAIN: usize = 8;

/// Bytes of one DER certificate at most.
pub const MAX_CERTIFICATE: usize = 16 * 1024;

/// A client certificate chain, leaf first, each DER-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    chain: Vec<Vec<u8>>,
}

impl PresentedCertificate {
    /// A chain as delivered, leaf first; `None` when it is empty, longer than
    /// [`MAX_CHAIN`] or holds a certificate over [`MAX_CERTIFICATE`] bytes.
    pub fn new(chain: Vec<Vec<u8>>) -> Option<PresentedCertificate> {
        let fits = !chain.is_empty()
            && chain.len() <= MAX_CHAIN
            && chain
                .iter()
                .all(|c| !c.is_empty() && c.len() <= MAX_CERTIFICATE);
        fits.then_some(PresentedCertificate { chain })
    }

    /// The end-entity certificate (DER).
    pub fn leaf(&self) -> &[u8] {
        self.chain.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// The certificates after the leaf, as the presenter sent them (DER).
    pub fn intermediates(&self) -> &[Vec<u8>] {
        self.chain.get(1..).unwrap_or_default()
    }

    /// The leaf's SHA-256 thumbprint, base64url without padding (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.leaf()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_bounded_and_never_empty() {
        assert!(PresentedCertificate::new(vec![]).is_none());
        assert!(PresentedCertificate::new(vec![vec![]]).is_none());
        assert!(PresentedCertificate::new(vec![vec![1]; MAX_CHAIN + 1]).is_none());
        assert!(PresentedCertificate::new(vec![vec![1; MAX_CERTIFICATE + 1]]).is_none());
        let c = PresentedCertificate::new(vec![vec![1], vec![2]]);
        assert_eq!(c.as_ref().map(|c| c.leaf()), Some(&[1u8][..]));
        assert_eq!(c.as_ref().map(|c| c.intermediates().len()), Some(1));
    }

    #[test]
    fn the_thumbprint_is_base64url_sha256_of_the_leaf() {
        // SHA-256("abc"), RFC 4634's test vector, base64url.
        let c = PresentedCertificate::new(vec![b"abc".to_vec()]);
        assert_eq!(
            c.map(|c| c.thumbprint()).as_deref(),
            Some("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0")
        );
    }
}
