//! The flags of the web inbox and HTTP API, shared by `yubin serve` and `yubin web`, and
//! the rule that keeps it from being exposed by accident.

use std::net::IpAddr;

use clap::Args;
use yubin::servers::{DEFAULT_HTTP_PORT, HttpConfig};
use yubin_web::WebConfig;
use yubin_web::guard::{BasicAuth, GuardConfig};
use yubin_web::release::Relay;

/// Who may use the web inbox, and where it relays to. (Its port is each command's own:
/// `serve` picks a free one when the mail ports do.)
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Ask for this user name and password (HTTP basic auth) on every page and API call.
    /// Needed to serve HTTP on a --bind other than loopback. From the environment, it
    /// stays out of the process list.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "YUBIN_HTTP_AUTH",
        hide_env_values = true
    )]
    pub http_auth: Option<BasicAuth>,
    /// Serve HTTP on a --bind other than loopback without --http-auth: anyone who
    /// reaches the port can read, send and delete all mail (only the machine's name and
    /// IP addresses are served, so a web page cannot rebind its own name to it).
    #[arg(long, conflicts_with = "http_auth")]
    pub http_insecure: bool,
    /// Where the web inbox's "release" sends a message on: an SMTP server,
    /// smtp://host:port, smtp://host:port?tls=required (STARTTLS) or
    /// smtps://user:password@host:465 [default: none; release is off].
    #[arg(long, value_name = "URL")]
    pub relay: Option<Relay>,
}

impl HttpArgs {
    /// The web server's settings for listening on `bind` at `port`; refuses a
    /// non-loopback address without --http-auth or --http-insecure.
    pub fn config(&self, bind: IpAddr, port: u16) -> anyhow::Result<HttpConfig> {
        if !bind.is_loopback() && self.http_auth.is_none() && !self.http_insecure {
            anyhow::bail!(
                "refusing to serve the web inbox on {bind} without a password: anyone who \
                 reaches port {} could read, send and delete all mail. Give --http-auth \
                 USER:PASSWORD, or --http-insecure to accept that, or --no-http (yubin \
                 serve), or --bind 127.0.0.1",
                if port == 0 { DEFAULT_HTTP_PORT } else { port }
            );
        }
        Ok(HttpConfig {
            port,
            web: WebConfig {
                relay: self.relay.clone(),
                guard: GuardConfig {
                    auth: self.http_auth.clone(),
                    // Beyond loopback the server is also reached by the machine's name.
                    // Without a password (--http-insecure) the Host rule stays: any page
                    // the user opens could rebind its own name to this address and, as
                    // a same-origin page, read and delete the mail.
                    local_hosts_only: self.http_auth.is_none() || bind.is_loopback(),
                    host_names: if bind.is_loopback() {
                        Vec::new()
                    } else {
                        crate::store_args::machine_name().into_iter().collect()
                    },
                },
                ..WebConfig::default()
            },
        })
    }
}

/// What a banner prints for the web inbox: where it listens (the URL last, as the other
/// protocols' lines end with their address), and what is there.
pub fn banner(addr: std::net::SocketAddr) {
    println!("HTTP listening on http://{addr}");
    println!("web inbox: open http://{addr} in a browser; Mailpit-compatible API under /api/v1");
}
