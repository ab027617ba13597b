//! What a reload would change: the devices added, removed, changed and left
//! alone between the running config and a new one, and the settings outside
//! `[[device]]` that only a restart applies.
//!
//! The running config is not kept whole (at 100k tags it would cost more
//! than the tag store): [`RunningConfig`] keeps the settings outside the
//! devices and one fingerprint per device. Devices are matched by name
//! (unique in a valid config), not by position, so inserting a device above
//! another leaves the other unchanged. A fingerprint covers every field of
//! the device and its tags except the tags' line numbers: a field added to
//! the config later counts as a change without anyone remembering to say so.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::{Config, DeviceConfig};

/// What a reload compares a new config against.
#[derive(Debug, Clone)]
pub struct RunningConfig {
    /// The running config's settings, with no devices.
    settings: Config,
    /// Each device's name and fingerprint, in config order.
    devices: Vec<(String, u64)>,
}

impl RunningConfig {
    /// Remember what `config` is, for comparing a later config with it.
    pub fn of(config: &Config) -> RunningConfig {
        RunningConfig {
            settings: settings_only(config),
            devices: RunningConfig::of_devices(config),
        }
    }
}

impl RunningConfig {
    /// What runs after a reload applied `new`'s devices: the settings stay
    /// this config's (they change only with a restart), the devices are `new`'s.
    #[must_use]
    pub fn with_devices_of(&self, new: &Config) -> RunningConfig {
        RunningConfig {
            settings: self.settings.clone(),
            devices: RunningConfig::of_devices(new),
        }
    }

    fn of_devices(config: &Config) -> Vec<(String, u64)> {
        config
            .devices
            .iter()
            .map(|d| (d.name.clone(), fingerprint(d)))
            .collect()
    }
}

/// Device names listed per kind of change in a summary; a STATUS= line
/// with a thousand names would help no one.
const NAMES_SHOWN: usize = 5;

/// The outcome of comparing the running config with a new one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Devices only in the new config, in its order.
    pub added: Vec<String>,
    /// Devices only in the old config, in its order.
    pub removed: Vec<String>,
    /// Devices in both whose settings or tags differ, in the new order.
    pub changed: Vec<String>,
    /// Devices in both, identical, in the new order: they keep polling.
    pub unchanged: Vec<String>,
    /// The sections or settings outside `[[device]]` that differ; each
    /// needs a restart (listeners, security, PKI, users, broker, names).
    pub needs_restart: Vec<&'static str>,
}

impl ConfigChanges {
    /// Compare the running config `old` with `new`.
    pub fn between(old: &RunningConfig, new: &Config) -> ConfigChanges {
        let mut changes = ConfigChanges {
            needs_restart: restart_settings(&old.settings, new),
            ..ConfigChanges::default()
        };
        let before: std::collections::HashMap<&str, u64> = old
            .devices
            .iter()
            .map(|(name, print)| (name.as_str(), *print))
            .collect();
        for device in &new.devices {
            match before.get(device.name.as_str()) {
                None => changes.added.push(device.name.clone()),
                Some(print) if *print == fingerprint(device) => {
                    changes.unchanged.push(device.name.clone());
                }
                Some(_) => changes.changed.push(device.name.clone()),
            }
        }
        let after: std::collections::HashSet<&str> =
            new.devices.iter().map(|d| d.name.as_str()).collect();
        changes.removed = old
            .devices
            .iter()
            .filter(|(name, _)| !after.contains(name.as_str()))
            .map(|(name, _)| name.clone())
            .collect();
        changes
    }

    /// True when the new config differs from the old in nothing that counts.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.needs_restart.is_empty()
    }

    /// True when every difference can be applied without a restart.
    pub fn applies_live(&self) -> bool {
        self.needs_restart.is_empty()
    }

    /// True when some device was added, removed or changed: a reload has
    /// something to apply live.
    pub fn devices_differ(&self) -> bool {
        !(self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty())
    }

    /// One line for the journal and `STATUS=`, e.g.
    /// `1 device added (pump2), 1 changed (meter1), 3 unchanged`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let mut list = |n: usize, what: &str, names: &[String]| {
            if n > 0 {
                let noun = if parts.is_empty() {
                    if n == 1 { " device" } else { " devices" }
                } else {
                    ""
                };
                let mut shown = names
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if n > NAMES_SHOWN {
                    shown.push_str(", …");
                }
                parts.push(format!("{n}{noun} {what} ({shown})"));
            }
        };
        list(self.added.len(), "added", &self.added);
        list(self.removed.len(), "removed", &self.removed);
        list(self.changed.len(), "changed", &self.changed);
        if parts.is_empty() {
            parts.push("no device changed".to_owned());
        }
        if !self.unchanged.is_empty() {
            parts.push(format!("{} unchanged", self.unchanged.len()));
        }
        let mut line = parts.join(", ");
        if !self.needs_restart.is_empty() {
            line.push_str("; needs a restart: ");
            line.push_str(&self.needs_restart.join(", "));
        }
        line
    }
}

/// The settings outside `[[device]]` that differ, by the name a user edits.
fn restart_settings(old: &Config, new: &Config) -> Vec<&'static str> {
    let Config {
        gateway_name,
        http_listen,
        metrics_tag_values,
        ready_grace,
        http_max_connections,
        http_idle_timeout,
        simulator,
        opcua,
        mqtt,
        devices: _,
        warnings: _,
    } = new;
    let mut differ = Vec::new();
    let mut check = |same: bool, name: &'static str| {
        if !same {
            differ.push(name);
        }
    };
    check(*gateway_name == old.gateway_name, "[gateway] name");
    check(*http_listen == old.http_listen, "[http] listen");
    check(
        *metrics_tag_values == old.metrics_tag_values,
        "[http] metrics_tag_values",
    );
    check(*ready_grace == old.ready_grace, "[http] ready_grace");
    check(
        *http_max_connections == old.http_max_connections,
        "[http] max_connections",
    );
    check(
        *http_idle_timeout == old.http_idle_timeout,
        "[http] idle_timeout",
    );
    check(*simulator == old.simulator, "[simulator]");
    check(*opcua == old.opcua, "[opcua]");
    check(*mqtt == old.mqtt, "[mqtt]");
    differ
}

/// A hash of every field of the device and its tags but the tags' lines.
/// `Debug` covers every field, so a new one is included without a change
/// here; the hash only has to be stable within one process.
fn fingerprint(device: &DeviceConfig) -> u64 {
    let mut placed = device.clone();
    for tag in &mut placed.tags {
        tag.line = 0;
    }
    let mut hasher = DefaultHasher::new();
    format!("{placed:?}").hash(&mut hasher);
    hasher.finish()
}

/// `config` without its devices and warnings, copied field by field so the
/// devices are never cloned.
fn settings_only(config: &Config) -> Config {
    let Config {
        gateway_name,
        http_listen,
        metrics_tag_values,
        ready_grace,
        http_max_connections,
        http_idle_timeout,
        simulator,
        opcua,
        mqtt,
        devices: _,
        warnings: _,
    } = config;
    Config {
        gateway_name: gateway_name.clone(),
        http_listen: *http_listen,
        metrics_tag_values: *metrics_tag_values,
        ready_grace: *ready_grace,
        http_max_connections: *http_max_connections,
        http_idle_timeout: *http_idle_timeout,
        simulator: simulator.clone(),
        opcua: opcua.clone(),
        mqtt: mqtt.clone(),
        devices: Vec::new(),
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn device(name: &str, port: u16, address: u32, poll: &str) -> String {
        format!(
            "[[device]]\nname = \"{name}\"\nprotocol = \"tcp\"\nhost = \"127.0.0.1:{port}\"\npoll = \"{poll}\"\n\
             [[device.tag]]\nname = \"t\"\naddress = \"{address}\"\ntype = \"u16\"\n"
        )
    }

    fn parse(text: &str) -> Config {
        Config::parse(text, "gateway.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_same_config_changes_nothing_even_when_devices_move_in_the_file() {
        let a = device("a", 5020, 40001, "1s");
        let b = device("b", 5021, 40001, "1s");
        let old = parse(&format!("{a}{b}"));
        let new = parse(&format!("# a comment that shifts every line\n\n{b}{a}"));
        let changes = ConfigChanges::between(&RunningConfig::of(&old), &new);
        assert!(changes.is_empty() && changes.applies_live(), "{changes:?}");
        assert_eq!(changes.unchanged, ["b", "a"]);
        assert_eq!(changes.summary(), "no device changed, 2 unchanged");
    }

    #[test]
    fn added_removed_and_changed_devices_are_named_by_name() {
        let old = parse(&format!(
            "{}{}{}",
            device("keep", 5020, 40001, "1s"),
            device("gone", 5021, 40001, "1s"),
            device("edit", 5022, 40001, "1s"),
        ));
        let new = parse(&format!(
            "{}{}{}",
            device("keep", 5020, 40001, "1s"),
            device("edit", 5022, 40002, "1s"),
            device("new", 5023, 40001, "1s"),
        ));
        let changes = ConfigChanges::between(&RunningConfig::of(&old), &new);
        assert_eq!(changes.added, ["new"]);
        assert_eq!(changes.removed, ["gone"]);
        assert_eq!(changes.changed, ["edit"]);
        assert_eq!(changes.unchanged, ["keep"]);
        assert!(changes.applies_live());
        assert_eq!(
            changes.summary(),
            "1 device added (new), 1 removed (gone), 1 changed (edit), 1 unchanged"
        );
    }

    #[test]
    fn after_a_reload_the_devices_are_the_new_ones_and_the_settings_still_the_old() {
        let d = device("a", 5020, 40001, "1s");
        let e = device("e", 5021, 40001, "1s");
        let old = parse(&d);
        let new = parse(&format!("[http]\nlisten = \"127.0.0.1:9999\"\n{d}{e}"));
        let running = RunningConfig::of(&old).with_devices_of(&new);
        let again = ConfigChanges::between(&running, &new);
        assert!(!again.devices_differ(), "{again:?}");
        assert_eq!(
            again.needs_restart,
            ["[http] listen"],
            "still waiting for a restart"
        );
        assert!(ConfigChanges::between(&RunningConfig::of(&old), &new).devices_differ());
    }

    #[test]
    fn settings_outside_the_devices_are_reported_as_needing_a_restart() {
        let d = device("a", 5020, 40001, "1s");
        let old = parse(&format!(
            "[gateway]\nname = \"line-3\"\n[http]\nlisten = \"127.0.0.1:9898\"\n{d}"
        ));
        let new = parse(&format!(
            "[gateway]\nname = \"line-4\"\n[http]\nlisten = \"127.0.0.1:9899\"\n{d}"
        ));
        let changes = ConfigChanges::between(&RunningConfig::of(&old), &new);
        assert_eq!(changes.needs_restart, ["[gateway] name", "[http] listen"]);
        assert!(!changes.applies_live() && !changes.is_empty());
        assert_eq!(
            changes.summary(),
            "no device changed, 1 unchanged; needs a restart: [gateway] name, [http] listen"
        );
    }

    #[test]
    fn a_summary_lists_a_few_names_and_counts_the_rest() {
        let old = parse(&device("a", 5020, 40001, "1s"));
        let new: String = (0..8)
            .map(|i| device(&format!("n{i}"), 5030 + i, 40001, "1s"))
            .collect();
        let changes = ConfigChanges::between(&RunningConfig::of(&old), &parse(&new));
        assert_eq!(
            changes.summary(),
            "8 devices added (n0, n1, n2, n3, n4, …), 1 removed (a)"
        );
    }

    proptest! {
        /// Changing one device's poll interval changes exactly that device,
        /// whatever the others are and wherever it sits.
        #[test]
        fn one_edit_changes_exactly_one_device(
            polls in prop::collection::vec(1u32..50, 1..8),
            pick in any::<prop::sample::Index>(),
        ) {
            let text = |edited: Option<usize>| -> String {
                polls
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let poll = if edited == Some(i) { p + 100 } else { *p };
                        let port = u16::try_from(5020 + i).unwrap_or(5020);
                        device(&format!("d{i}"), port, 40001, &format!("{poll}00ms"))
                    })
                    .collect()
            };
            let k = pick.index(polls.len());
            let old = parse(&text(None));
            prop_assert!(ConfigChanges::between(&RunningConfig::of(&old), &old).is_empty());
            let changes = ConfigChanges::between(&RunningConfig::of(&old), &parse(&text(Some(k))));
            prop_assert_eq!(changes.changed, vec![format!("d{k}")]);
            prop_assert_eq!(changes.unchanged.len(), polls.len() - 1);
            prop_assert!(changes.added.is_empty() && changes.removed.is_empty());
        }
    }
}
