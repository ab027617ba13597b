//! Relative paths in a loaded config, resolved once: files against the
//! config file's folder, the store-and-forward log against the service's
//! state directory.

use std::path::Path;

use super::Config;

impl Config {
    /// Resolve relative paths in the config against the folder of the config
    /// file (`[opcua] pki_dir`, the MQTT credential files), so `run` and `pki`
    /// find the same files whatever their working directory; `[mqtt]
    /// buffer_dir` against the state directory systemd gives the service
    /// (`$STATE_DIRECTORY`), or the config's folder without one.
    pub(super) fn relative_to(mut self, file: &Path) -> Config {
        let base = file.parent().unwrap_or_else(|| Path::new(""));
        let resolve = |p: &mut std::path::PathBuf, base: &Path| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(o) = self.opcua.as_mut() {
            resolve(&mut o.pki_dir, base);
        }
        if let Some(m) = self.mqtt.as_mut() {
            let state = std::env::var_os("STATE_DIRECTORY")
                // systemd passes several folders colon-separated; the first is ours.
                .and_then(|s| {
                    s.to_str()
                        .and_then(|s| s.split(':').next())
                        .map(std::path::PathBuf::from)
                })
                .filter(|p| p.is_absolute());
            resolve(&mut m.buffer.dir, state.as_deref().unwrap_or(base));
            if let Some(f) = m.password_file.as_mut() {
                resolve(f, base);
            }
            if let Some(t) = m.tls.as_mut() {
                if let Some(ca) = t.ca_file.as_mut() {
                    resolve(ca, base);
                }
                if let Some((c, k)) = t.client.as_mut() {
                    resolve(c, base);
                    resolve(k, base);
                }
            }
        }
        self
    }
}
