//! Who may log in, and what they may do.
//!
//! - Anonymous sessions, when `anonymous = "read"`, on every endpoint; never writable.
//! - Username/password only on sign-encrypt endpoints (on `none` or sign-only a
//!   password would cross in clear), checked against argon2id hashes off the
//!   async workers. A wrong password and an unknown user get the same answer.
//! - `CurrentWrite` is removed from the user access level of every node for a
//!   user without `can_write`, so clients see what they may do and the library's
//!   write validation refuses the rest.

use std::collections::HashMap;
use std::sync::Arc;

use opcua::server::address_space::AccessLevel;
use opcua::server::authenticator::{
    AuthManager, Password, UserToken, user_pass_security_policy_id,
};
use opcua::server::{ANONYMOUS_USER_TOKEN_ID, ServerEndpoint};
use opcua::types::{
    Error, MessageSecurityMode, NodeId, StatusCode, UAString, UserTokenPolicy, UserTokenType,
};

use super::password::{hash_password, verify_password};
use crate::config::OpcuaUser;

/// The policy id the library expects for anonymous tokens.
const ANONYMOUS_POLICY_ID: &str = "anonymous";

/// The gateway's `AuthManager`.
#[derive(Debug)]
pub struct GatewayAuth {
    anonymous_read: bool,
    users: HashMap<String, OpcuaUser>,
    /// Verified against for unknown users, so that an unknown user costs the
    /// same time as a wrong password and the answer reveals nothing.
    dummy_hash: String,
}

impl GatewayAuth {
    /// Auth from the `[opcua]` config.
    pub fn new(anonymous_read: bool, users: &[OpcuaUser]) -> Arc<Self> {
        let dummy_hash = hash_password("no such user").unwrap_or_default();
        Arc::new(GatewayAuth {
            anonymous_read,
            users: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            dummy_hash,
        })
    }

    /// True when the session's user may write (never for anonymous).
    pub fn may_write(&self, token: &UserToken) -> bool {
        !token.is_anonymous() && self.users.get(&token.0).is_some_and(|u| u.can_write)
    }
}

fn policy(id: UAString, token_type: UserTokenType) -> UserTokenPolicy {
    UserTokenPolicy {
        policy_id: id,
        token_type,
        issued_token_type: UAString::null(),
        issuer_endpoint_url: UAString::null(),
        security_policy_uri: UAString::null(),
    }
}

#[async_trait::async_trait]
impl AuthManager for GatewayAuth {
    async fn authenticate_anonymous_token(&self, endpoint: &ServerEndpoint) -> Result<(), Error> {
        if self.anonymous_read && endpoint.user_token_ids.contains(ANONYMOUS_USER_TOKEN_ID) {
            Ok(())
        } else {
            Err(Error::new(
                StatusCode::BadIdentityTokenRejected,
                "anonymous access is off",
            ))
        }
    }

    async fn authenticate_username_identity_token(
        &self,
        endpoint: &ServerEndpoint,
        username: &str,
        password: &Password,
    ) -> Result<UserToken, Error> {
        if endpoint.message_security_mode() != MessageSecurityMode::SignAndEncrypt {
            return Err(Error::new(
                StatusCode::BadIdentityTokenRejected,
                "passwords only on sign-encrypt endpoints",
            ));
        }
        let hash = self
            .users
            .get(username)
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let known = self.users.contains_key(username);
        let given = password.get().to_owned();
        // argon2 takes tens of milliseconds of CPU: keep it off the async workers.
        let matches = tokio::task::spawn_blocking(move || verify_password(&hash, &given))
            .await
            .unwrap_or(false);
        if known && matches {
            tracing::info!(user = username, "OPC UA user logged in");
            Ok(UserToken(username.to_owned()))
        } else {
            // The same status for an unknown user and a wrong password.
            tracing::warn!("OPC UA login refused");
            Err(Error::new(StatusCode::BadUserAccessDenied, "login refused"))
        }
    }

    fn effective_user_access_level(
        &self,
        token: &UserToken,
        user_access_level: AccessLevel,
        _node_id: &NodeId,
    ) -> AccessLevel {
        if self.may_write(token) {
            user_access_level
        } else {
            user_access_level.difference(AccessLevel::CURRENT_WRITE)
        }
    }

    fn user_token_policies(&self, endpoint: &ServerEndpoint) -> Vec<UserTokenPolicy> {
        let mut policies = Vec::new();
        if self.anonymous_read && endpoint.user_token_ids.contains(ANONYMOUS_USER_TOKEN_ID) {
            policies.push(policy(ANONYMOUS_POLICY_ID.into(), UserTokenType::Anonymous));
        }
        if !self.users.is_empty()
            && endpoint.message_security_mode() == MessageSecurityMode::SignAndEncrypt
        {
            policies.push(policy(
                user_pass_security_policy_id(endpoint),
                UserTokenType::UserName,
            ));
        }
        policies
    }
}
