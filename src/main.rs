//! The `edge-gateway` command line: argument structs, parsing, logging setup
//! and dispatch to `edge_gateway::app`. The work is in the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use edge_gateway::app::{self, EXIT_BUS_OVERLOADED, EXIT_CONFIG_REFUSED, EXIT_ERROR};
use edge_gateway::config::{self, Config, ConfigError, Parity, SerialSettings, defaults};
use edge_gateway::tags::{DataType, Kind, WordOrder};

/// Modbus TCP/RTU to one tag model, served over HTTP (and OPC UA, Prometheus).
///
/// Without a subcommand, `run` is assumed. Every subcommand except `read` and
/// `hash-password` reads the config given with -c (default: ./gateway.toml).
///
/// Exit codes: 0 success; 1 any other error (a port in use, a failed read);
/// 2 the config was refused (invalid or unreadable) or the command line is
/// wrong; 3 `check` found a serial bus estimated above 100 % load.
#[derive(Parser)]
#[command(name = "edge-gateway", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file.
    #[arg(short, long, global = true, default_value = "gateway.toml")]
    config: PathBuf,
    /// Log filter, e.g. "info" or "`edge_gateway=debug`" (default: $`RUST_LOG`, else info).
    #[arg(long, global = true)]
    log: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Poll the devices and serve their tags (the default).
    Run,
    /// Validate the config and print the poll plan: read blocks per device,
    /// requests per cycle, and the estimated load of every serial bus.
    ///
    /// Exits 0 when the config is valid (a serial bus above 80 % load is a
    /// warning), 2 when the config is refused, and 3 when a serial bus is
    /// estimated above 100 % load: it cannot keep its poll intervals.
    Check,
    /// Run only the built-in Modbus simulator of the config's [simulator] section.
    Simulate {
        /// Listen address, overriding [simulator] listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Read registers from a device once and print them decoded (for commissioning).
    Read(ReadArgs),
    /// Hash a password for [[opcua.user]] `password_hash` (argon2id). Reads it twice from the terminal or stdin.
    HashPassword,
    /// OPC UA client certificates in [opcua] `pki_dir`: list them, trust one, reject one.
    Pki {
        #[command(subcommand)]
        action: PkiAction,
    },
}

#[derive(Subcommand)]
enum PkiAction {
    /// List trusted and rejected client certificates: thumbprint, subject, validity, file.
    List,
    /// Trust a rejected client certificate (moves it from rejected/ to trusted/).
    Trust {
        /// The certificate's SHA-1 thumbprint as `pki list` shows it, or its first 8+ hex digits.
        thumbprint: String,
    },
    /// Reject a trusted client certificate (moves it from trusted/ to rejected/).
    Reject {
        /// The certificate's SHA-1 thumbprint as `pki list` shows it, or its first 8+ hex digits.
        thumbprint: String,
    },
}

#[derive(clap::Args)]
struct ReadArgs {
    /// Modbus TCP device: "address:port", "[v6]:port", or an address or name
    /// alone for port 502.
    #[arg(long, conflicts_with = "port", required_unless_present = "port")]
    host: Option<String>,
    /// Serial port for Modbus RTU, e.g. /dev/ttyUSB0.
    #[arg(long)]
    port: Option<String>,
    /// Baud rate (RTU), as the config's default.
    #[arg(long, default_value_t = defaults::BAUD)]
    baud: u32,
    /// Parity (RTU), as the config's default.
    #[arg(long, default_value = defaults::PARITY.as_str(), value_parser = one_of(Parity::NAMES))]
    parity: Parity,
    /// Stop bits (RTU), as the config's default.
    #[arg(long, default_value_t = defaults::STOP_BITS)]
    stop_bits: u8,
    /// Unit id (slave address), as the config's default.
    #[arg(long, default_value_t = defaults::UNIT)]
    unit: u8,
    /// Register kind; not needed with a Modicon address such as 40001.
    #[arg(long, value_parser = one_of(Kind::NAMES))]
    kind: Option<Kind>,
    /// 0-based address (with --kind), or a Modicon address: 40001 = holding 0, 30001 = input 0.
    #[arg(long)]
    address: String,
    /// Number of values to read.
    #[arg(long, default_value_t = 1)]
    count: u16,
    #[arg(long = "type", default_value = "u16", value_parser = one_of(DataType::NAMES))]
    data_type: DataType,
    #[arg(long, default_value = "abcd", value_parser = one_of(WordOrder::NAMES))]
    order: WordOrder,
    /// String length in registers (type string).
    #[arg(long, default_value_t = 8)]
    length: u16,
    /// Response timeout, e.g. 500ms.
    #[arg(long, default_value = "1s", value_parser = config::parse_duration)]
    timeout: Duration,
}

/// A clap parser for one of the library's spelling tables (`Kind::NAMES`, ...):
/// `--help` lists the names, and a new variant needs only its table entry.
fn one_of<T>(names: &'static [(&'static str, T)]) -> impl TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static,
{
    PossibleValuesParser::new(names.iter().map(|(name, _)| *name)).try_map(move |given| {
        names
            .iter()
            .find(|(name, _)| *name == given)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("{given:?} is not one of the possible values"))
    })
}

fn main() -> ExitCode {
    edge_gateway::app::memory::fix_trim_threshold();
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // Under systemd, journald stamps every line itself.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        fmt.without_time().init();
    } else {
        fmt.init();
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The config, or the exit code after its diagnostics were printed.
fn load(path: &Path) -> Result<Config, ExitCode> {
    match Config::load(path) {
        Ok(c) => Ok(c),
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(EXIT_CONFIG_REFUSED))
        }
        Err(ConfigError::Invalid { diagnostics, .. }) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{}: config refused", path.display());
            Err(ExitCode::from(EXIT_CONFIG_REFUSED))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.min(app::MAX_WORKER_THREADS))
        .max_blocking_threads(app::MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Run);
    // Commands that need no config.
    match command {
        Command::Read(args) => {
            let options = read_options(args);
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            runtime()?.block_on(app::read::read(&options, &mut out, &mut err))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::HashPassword => {
            let stdin = std::io::stdin();
            let input = if stdin.is_terminal() {
                app::hash_password::Input::Terminal
            } else {
                app::hash_password::Input::Lines(stdin.lock())
            };
            app::hash_password::hash_password(input, &mut std::io::stdout().lock())?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = match load(&cli.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match command {
        Command::Run => {
            runtime()?.block_on(app::run::run(config, Some(&cli.config), shutdown_signal()))?;
        }
        Command::Check => {
            let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
            let outcome = app::check::check(&config, &cli.config, &mut out, &mut err)
                .context("writing the report")?;
            if outcome == app::check::CheckOutcome::Overloaded {
                return Ok(ExitCode::from(EXIT_BUS_OVERLOADED));
            }
        }
        Command::Simulate { listen } => {
            runtime()?.block_on(app::simulate::simulate(&config, listen, shutdown_signal()))?;
        }
        Command::Pki { action } => {
            let dir = config
                .opcua
                .as_ref()
                .map_or_else(|| PathBuf::from("pki"), |o| o.pki_dir.clone());
            let action = match action {
                PkiAction::List => app::pki::PkiAction::List,
                PkiAction::Trust { thumbprint } => app::pki::PkiAction::Trust(thumbprint),
                PkiAction::Reject { thumbprint } => app::pki::PkiAction::Reject(thumbprint),
            };
            app::pki::pki(&dir, &action, &mut std::io::stdout().lock())?;
        }
        Command::Read(_) | Command::HashPassword => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn read_options(a: ReadArgs) -> app::read::ReadOptions {
    app::read::ReadOptions {
        host: a.host,
        port: a.port,
        serial: SerialSettings {
            baud: a.baud,
            parity: a.parity,
            stop_bits: a.stop_bits,
            data_bits: 8,
        },
        unit: a.unit,
        kind: a.kind,
        address: a.address,
        count: a.count,
        data_type: a.data_type,
        order: a.order,
        length: a.length,
        timeout: a.timeout,
    }
}
