//! `[server]`'s own type: the one port of the HTTP API, Socket.IO and the dashboard, and where
//! the dashboard's files are. `crate::publish` serves them. Its port is checked against the
//! others on the box with the rules between sections, in `config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[server]`: the HTTP and Socket.IO port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// The dashboard's built files (web/dist); a placeholder page is served when absent.
    pub web_dir: PathBuf,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            web_dir: "/usr/share/skycount/web".into(),
        }
    }
}
