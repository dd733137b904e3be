//! What operators do to clients, each one unit on a connection: create, update (whole,
//! or a patch over the stored client), secrets, keys, enable/disable, delete, read.
//! Every attribute goes through [`validate()`]; the audit record is written in the same
//! transaction.

use super::fields::{ClientFields, ClientPatch};
use super::validate::{self, validate, Context, Policy, ValidClient};
use super::view::{ClientView, CreatedClient};
use crate::admin::AdminError;
use crate::db::audit;
use crate::db::models::{usage, Client, ClientChanges, TrustedIssuer};
use crate::db::DbConnection;
use crate::oauth::secret::{generate_client_secret, hash_secret, verify_secret};
use crate::oauth::AuthMethod;
use secrecy::{ExposeSecret, SecretString};

/// The audit log's (and `managed_by`'s) name for changes made by `tessera apply`.
pub const APPLY: &str = "apply";

/// The longest overlap `rotate-secret --keep-old` allows, seconds (a week).
pub const MAX_KEEP_OLD_SECS: i64 = 604_800;

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("client {id}"))
}

/// Checks `fields` against the rules (and `stored`, on update), with the trusted
/// issuers read from `conn`.
fn checked(
    conn: &mut DbConnection,
    fields: &ClientFields,
    stored: Option<&Client>,
    policy: Policy,
) -> Result<ValidClient, AdminError> {
    let ctx = Context { stored, policy };
    validate(fields, ctx, &mut |name| {
        Ok(TrustedIssuer::find(conn, name)?.is_some())
    })
}

/// Registers a client and returns it with its secret (generated for a secret method
/// unless one was provided; shown once).
pub fn create(
    conn: &mut DbConnection,
    actor: &str,
    fields: &ClientFields,
    policy: Policy,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    let v = checked(conn, fields, None, policy)?;
    let client_id = match v.client_id {
        Some(id) => {
            if Client::find(conn, &id)?.is_some() {
                return Err(AdminError::field(
                    "client_id",
                    format!("client id {id:?} is taken"),
                ));
            }
            id
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let secret =
        (v.auth_method.uses_secret() && v.secret_hash.is_none()).then(generate_client_secret);
    let secret_hash = v.secret_hash.or_else(|| secret.as_deref().map(hash_secret));
    let (federated_issuer, federated_subject, federated_claims) = match v.federation {
        Some((i, s, c)) => (Some(i), Some(s), Some(c)),
        None => (None, None, None),
    };
    let secret_created_at = secret_hash.is_some().then_some(now);
    let new = Client {
        client_id,
        name: v.name,
        secret_hash,
        auth_method: v.auth_method.as_str().to_string(),
        scope: v.scope,
        grant_types: v.grant_types,
        audiences: v.audiences,
        resource_uris: v.resource_uris,
        access_token_ttl: v.access_token_ttl,
        refresh_token_ttl: v.refresh_token_ttl,
        refresh_reuse_grace: v.refresh_reuse_grace,
        disabled: false,
        created_at: now,
        updated_at: now,
        require_dpop: v.require_dpop,
        jwks: v.jwks,
        jwks_uri: v.jwks_uri,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        federated_issuer,
        federated_subject,
        federated_claims,
        secret_created_at,
        managed_by: (actor == APPLY).then(|| APPLY.to_string()),
    };
    Client::insert(conn, &new)?;
    let stored = Client::find(conn, &new.client_id)?
        .ok_or_else(|| AdminError::NotFound(new.client_id.clone()))?;
    let view = ClientView::from(&stored);
    audit::record(
        conn,
        actor,
        "client.create",
        &view.client_id,
        view.details(),
        now,
    )?;
    Ok(CreatedClient {
        client: view,
        client_secret: secret,
    })
}

/// Replaces a client's attributes (RFC 7592 PUT semantics: the fields are the whole
/// client). A provided secret is judged with the rest but written only by
/// [`provide_secret`] and [`rotate_secret`].
pub fn update(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    fields: &ClientFields,
    policy: Policy,
    now: i64,
) -> Result<ClientView, AdminError> {
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    let v = checked(conn, fields, Some(&stored), policy)?;
    let (federated_issuer, federated_subject, federated_claims) = match v.federation {
        Some((i, s, c)) => (Some(i), Some(s), Some(c)),
        None => (None, None, None),
    };
    let changes = ClientChanges {
        federated_issuer: Some(federated_issuer),
        federated_subject: Some(federated_subject),
        federated_claims: Some(federated_claims),
        name: Some(v.name),
        scope: Some(v.scope),
        grant_types: Some(v.grant_types),
        audiences: Some(v.audiences),
        resource_uris: Some(v.resource_uris),
        access_token_ttl: Some(v.access_token_ttl),
        refresh_token_ttl: Some(v.refresh_token_ttl),
        refresh_reuse_grace: Some(v.refresh_reuse_grace),
        require_dpop: Some(v.require_dpop),
        jwks: Some(v.jwks),
        jwks_uri: Some(v.jwks_uri),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let view = show(conn, id)?;
    audit::record(conn, actor, "client.update", id, view.details(), now)?;
    Ok(view)
}

/// Changes the attributes `patch` names and keeps the others: the stored client with
/// the patch laid over it goes through [`update`], so the rules and the audit record
/// are RFC 7592's and `apply`'s. The secret, keys and federated binding stay as they
/// are (`rotate-secret`, `set-keys`); the auth method cannot change. One unit: read,
/// check, write, audit; the audit line is logged once it commits.
pub fn patch(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    patch: &ClientPatch,
    policy: Policy,
    now: i64,
) -> Result<ClientView, AdminError> {
    audit::transaction(conn, |conn| {
        let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
        let fields = patch.clone().over(ClientFields::of_stored(&stored));
        update(conn, actor, id, &fields, policy, now)
    })
}

/// Sets an operator-provided secret (`apply`) unless it is the current one; the old
/// secret stops at once. Whether it changed anything.
pub fn provide_secret(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    secret: &SecretString,
    now: i64,
) -> Result<bool, AdminError> {
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    let method = AuthMethod::parse(&stored.auth_method);
    if method.is_some_and(|m| !m.uses_secret()) {
        return Err(AdminError::field(
            "secret",
            format!("a {} client has no secret", stored.auth_method),
        ));
    }
    let hash = validate::provided_secret(secret)?;
    let same = stored
        .secret_hash
        .as_deref()
        .is_some_and(|h| verify_secret(secret.expose_secret(), h));
    if same {
        return Ok(false);
    }
    let changes = ClientChanges {
        secret_hash: Some(Some(hash)),
        previous_secret_hash: Some(None),
        previous_secret_expires_at: Some(None),
        secret_created_at: Some(Some(now)),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let details = serde_json::json!({ "provided": true });
    audit::record(conn, actor, "client.rotate_secret", id, details, now)?;
    Ok(true)
}

/// One client.
pub fn show(conn: &mut DbConnection, id: &str) -> Result<ClientView, AdminError> {
    let mut view = Client::find(conn, id)?
        .map(|c| ClientView::from(&c))
        .ok_or_else(|| not_found(id))?;
    view.last_used_at = usage::last_used(conn, &[view.client_id.clone()])?.remove(&view.client_id);
    Ok(view)
}

/// Every client.
pub fn list(conn: &mut DbConnection) -> Result<Vec<ClientView>, AdminError> {
    let mut views: Vec<ClientView> = Client::list(conn)?.iter().map(ClientView::from).collect();
    let ids: Vec<String> = views.iter().map(|v| v.client_id.clone()).collect();
    let mut last = usage::last_used(conn, &ids)?;
    for v in &mut views {
        v.last_used_at = last.remove(&v.client_id);
    }
    Ok(views)
}

/// Enables or disables a client.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<ClientView, AdminError> {
    let changes = ClientChanges {
        disabled: Some(disabled),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    if disabled {
        // Its users' sessions end with it; enabling it again does not revive them.
        use crate::db::models::refresh_token::{revoke, Families};
        revoke(conn, Families::OfClient(id), now)?;
    }
    let action = if disabled {
        "client.disable"
    } else {
        "client.enable"
    };
    audit::record(conn, actor, action, id, serde_json::json!({}), now)?;
    show(conn, id)
}

/// Issues a new secret. The old one stops working at once, or keeps working for
/// `keep_old` seconds (at most a week) so that every instance of the client can move
/// to the new one without a failed request; rotating again within that window ends
/// the older secret at once.
pub fn rotate_secret(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    keep_old: i64,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    if !(0..=MAX_KEEP_OLD_SECS).contains(&keep_old) {
        return Err(AdminError::field(
            "keep_old",
            format!("must be 0 to {MAX_KEEP_OLD_SECS} seconds"),
        ));
    }
    // Locked: the previous secret kept is the one stored when the new one is written.
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    match AuthMethod::parse(&stored.auth_method) {
        Some(AuthMethod::PrivateKeyJwt) => {
            return Err(AdminError::Invalid(format!(
                "client {id} authenticates with private_key_jwt and has no secret; \
                 change its keys instead"
            )))
        }
        Some(AuthMethod::Federated) => {
            return Err(AdminError::Invalid(format!(
                "client {id} is federated (its platform's tokens are its credential) and \
                 has no secret to rotate"
            )))
        }
        _ => {}
    }
    let secret = generate_client_secret();
    let overlap = keep_old > 0 && stored.secret_hash.is_some();
    let old_expires_at = overlap.then_some(now.saturating_add(keep_old));
    let changes = ClientChanges {
        secret_hash: Some(Some(hash_secret(&secret))),
        previous_secret_hash: Some(stored.secret_hash.clone().filter(|_| overlap)),
        previous_secret_expires_at: Some(old_expires_at),
        secret_created_at: Some(Some(now)),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let details = serde_json::json!({
        "keep_old_secs": keep_old,
        "previous_secret_expires_at": old_expires_at,
    });
    audit::record(conn, actor, "client.rotate_secret", id, details, now)?;
    Ok(CreatedClient {
        client: show(conn, id)?,
        client_secret: Some(secret),
    })
}

/// Replaces a `private_key_jwt` client's public keys (the client rotated its keys):
/// the stored client with `jwks` or `jwks_uri` replaced goes through the validator.
pub fn set_keys(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    policy: Policy,
    now: i64,
) -> Result<ClientView, AdminError> {
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    if stored.auth_method != AuthMethod::PrivateKeyJwt.as_str() {
        return Err(AdminError::Invalid(format!(
            "client {id} authenticates with {}, not private_key_jwt",
            stored.auth_method
        )));
    }
    let fields = ClientFields {
        jwks,
        jwks_uri,
        ..ClientFields::of_stored(&stored)
    };
    let v = checked(conn, &fields, Some(&stored), policy)?;
    let changes = ClientChanges {
        jwks: Some(v.jwks),
        jwks_uri: Some(v.jwks_uri),
        ..Default::default()
    };
    Client::update(conn, id, changes, now)?;
    let view = show(conn, id)?;
    audit::record(conn, actor, "client.set_keys", id, view.details(), now)?;
    Ok(view)
}

/// Deletes a client (its refresh-token families and usage counts go with it).
pub fn delete(conn: &mut DbConnection, actor: &str, id: &str, now: i64) -> Result<(), AdminError> {
    if Client::delete(conn, id)? {
        usage::delete_client(conn, id)?;
        audit::record(conn, actor, "client.delete", id, serde_json::json!({}), now)?;
        Ok(())
    } else {
        Err(not_found(id))
    }
}
