//! `[opcua]`: endpoints and their security, anonymous access, users and their
//! password hashes, and the limits that bound what clients may make the server hold.

use toml::Spanned;

use super::super::raw::RawOpcua;
use super::super::{OpcuaConfig, OpcuaLimits, OpcuaUser, Security, defaults};
use super::Builder;

impl Builder<'_> {
    pub(super) fn opcua(&mut self, o: Spanned<RawOpcua>) -> Option<OpcuaConfig> {
        let span = o.span();
        let o = o.into_inner();
        let p = "opcua: ";
        if o.enabled.as_ref().is_some_and(|e| !*e.get_ref()) {
            return None;
        }
        let listen = self.socket_addr("opcua: listen", o.listen.as_ref(), defaults::OPCUA_LISTEN);
        let security = match o.security.as_ref() {
            None => defaults::OPCUA_SECURITY.to_vec(),
            Some(list) => {
                let mut out = Vec::new();
                for name in list.get_ref() {
                    let n = name.get_ref().to_ascii_lowercase();
                    match Security::NAMES.iter().find(|(k, _)| *k == n) {
                        Some((_, s)) if !out.contains(s) => out.push(*s),
                        Some(_) => self.d.warn(&name.span(), format!("{p}security: {n:?} is listed twice")),
                        None if n.starts_with("basic128rsa15") || n == "basic256" || n.starts_with("basic256-") => self.d.error(
                            &name.span(),
                            format!("{p}security: {n:?} is a deprecated policy (SHA-1, PKCS#1 v1.5) and is not offered"),
                        ),
                        None => self.d.error(
                            &name.span(),
                            format!(
                                "{p}security: {n:?} is not an endpoint; use {}",
                                Security::NAMES.iter().map(|(k, _)| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                            ),
                        ),
                    }
                }
                if out.is_empty() && !self.d.table_has_error(&span) {
                    self.d.error(
                        &list.span(),
                        format!("{p}security: offer at least one endpoint"),
                    );
                }
                out
            }
        };
        let anonymous_read = match o.anonymous.as_ref() {
            None => defaults::OPCUA_ANONYMOUS_READ,
            Some(a) => match a.get_ref().as_str() {
                "off" => false,
                "read" => true,
                other => {
                    self.d.error(&a.span(), format!("{p}anonymous: {other:?} is not allowed; use \"off\" or \"read\" (anonymous sessions can never write)"));
                    false
                }
            },
        };
        let mut users: Vec<OpcuaUser> = Vec::new();
        for u in o.user {
            let uspan = u.span();
            let u = u.into_inner();
            let name = self.name("opcua user", u.name.as_ref(), &uspan, true);
            let hash = match u.password_hash.as_ref() {
                None => {
                    self.missing(&uspan, format!("{p}user {name:?}: missing key `password_hash` (make one with `edge-gateway hash-password`)"));
                    String::new()
                }
                Some(h) => {
                    let ok = argon2::password_hash::PasswordHash::new(h.get_ref())
                        .is_ok_and(|ph| ph.algorithm.as_str() == "argon2id");
                    if !ok {
                        self.d.error(&h.span(), format!("{p}user {name:?}: password_hash is not an argon2id hash; make one with `edge-gateway hash-password`"));
                    }
                    h.get_ref().clone()
                }
            };
            if users.iter().any(|x| x.name == name) {
                self.d
                    .error(&uspan, format!("{p}user {name:?}: duplicate user name"));
            }
            users.push(OpcuaUser {
                name,
                password_hash: hash,
                can_write: u.can_write.as_ref().is_some_and(|w| *w.get_ref()),
            });
        }
        if !users.is_empty() && !security.iter().any(|s| s.encrypts()) {
            self.d.warn(&span, format!("{p}users are configured but no sign-encrypt endpoint is offered; passwords are only accepted on those"));
        }
        if !anonymous_read
            && (users.is_empty() || !security.iter().any(|s| s.encrypts()))
            && !self.d.table_has_error(&span)
        {
            self.d.error(&span, format!("{p}nobody could log in: set anonymous = \"read\", or add [[opcua.user]] and a sign-encrypt endpoint"));
        }
        let mut limit = |key: &str,
                         v: Option<&Spanned<i64>>,
                         range: std::ops::RangeInclusive<i64>,
                         default: usize| {
            let default = i64::try_from(default).unwrap_or(i64::MAX);
            usize::try_from(self.int(p, key, v, range, default)).unwrap_or(0)
        };
        // Defaults bound what a client can make the server hold: sessions ×
        // subscriptions × items, and message size × connections before login.
        let max_sessions = limit(
            "max_sessions",
            o.max_sessions.as_ref(),
            1..=1000,
            defaults::OPCUA_MAX_SESSIONS,
        );
        let max_connections = limit(
            "max_connections",
            o.max_connections.as_ref(),
            1..=10_000,
            defaults::OPCUA_MAX_CONNECTIONS,
        );
        let max_subscriptions_per_session = limit(
            "max_subscriptions_per_session",
            o.max_subscriptions_per_session.as_ref(),
            1..=1000,
            defaults::OPCUA_MAX_SUBSCRIPTIONS_PER_SESSION,
        );
        let max_monitored_items = o
            .max_monitored_items
            .as_ref()
            .map(|v| limit("max_monitored_items", Some(v), 1..=1_000_000, 0));
        let max_message_size = limit(
            "max_message_size",
            o.max_message_size.as_ref(),
            65_536..=268_435_456,
            defaults::OPCUA_MAX_MESSAGE_SIZE,
        );
        let max_chunk_count = o
            .max_chunk_count
            .as_ref()
            .map(|v| limit("max_chunk_count", Some(v), 1..=65_535, 0));
        if max_connections < max_sessions
            && let Some(v) = o.max_connections.as_ref()
        {
            self.d.warn(&v.span(), format!("{p}max_connections = {max_connections} is below max_sessions = {max_sessions}: every session needs a connection"));
        }
        if listen.port() != 0 && !listen.ip().is_loopback() && security.contains(&Security::None) {
            let at = o.security.as_ref().map_or(span.clone(), Spanned::span);
            self.d.warn(&at, format!("{p}the \"none\" endpoint listens on {listen}, beyond loopback: its traffic is neither signed nor encrypted, so anyone on the network can read it and inject into it; offer sign-encrypt endpoints only, or listen on 127.0.0.1"));
        }
        let limits = OpcuaLimits {
            max_sessions,
            max_connections,
            max_subscriptions_per_session,
            max_monitored_items,
            max_message_size,
            max_chunk_count,
            min_publishing_interval: self.duration(
                p,
                "min_publishing_interval",
                o.min_publishing_interval.as_ref(),
                defaults::OPCUA_MIN_PUBLISHING_INTERVAL,
                false,
            ),
            min_sampling_interval: self.duration(
                p,
                "min_sampling_interval",
                o.min_sampling_interval.as_ref(),
                defaults::OPCUA_MIN_SAMPLING_INTERVAL,
                false,
            ),
            max_write_time: self.max_write_time(p, o.max_write_time.as_ref()),
        };
        Some(OpcuaConfig {
            listen,
            hostname: o.hostname.map(Spanned::into_inner),
            pki_dir: o
                .pki_dir
                .map_or_else(|| defaults::OPCUA_PKI_DIR.into(), |p| p.into_inner().into()),
            security,
            anonymous_read,
            users,
            limits,
        })
    }

    /// `max_write_time`: at least 100 ms (a write needs a round trip), at most
    /// the 300 s after which the OPC UA stack aborts any request on its own.
    fn max_write_time(&mut self, p: &str, v: Option<&Spanned<String>>) -> std::time::Duration {
        let d = self.duration(
            p,
            "max_write_time",
            v,
            defaults::OPCUA_MAX_WRITE_TIME,
            false,
        );
        let range = std::time::Duration::from_millis(100)..=std::time::Duration::from_secs(300);
        match v {
            Some(v) if !range.contains(&d) => {
                self.d.error(
                    &v.span(),
                    format!("{p}max_write_time: must be between 100ms and 300s"),
                );
                defaults::OPCUA_MAX_WRITE_TIME
            }
            _ => d,
        }
    }
}
