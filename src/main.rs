//! The `edge-gateway` command line. Parsing and dispatch only; the work is in the library.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use edge_gateway::commands::{self, Probe};
use edge_gateway::config::{self, Config, ConfigError, Parity, SerialSettings};
use edge_gateway::modbus::codec::Encoding;
use edge_gateway::modbus::link::Target;
use edge_gateway::tags::{DataType, Kind, WordOrder};

/// Modbus TCP/RTU to one tag model, served over HTTP (and OPC UA, Prometheus).
///
/// Without a subcommand, `run` is assumed. Every subcommand reads the config
/// given with -c (default: ./gateway.toml).
#[derive(Parser)]
#[command(name = "edge-gateway", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file.
    #[arg(short, long, global = true, default_value = "gateway.toml")]
    config: PathBuf,
    /// Log filter, e.g. "info" or "edge_gateway=debug" (default: $RUST_LOG, else info).
    #[arg(long, global = true)]
    log: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Poll the devices and serve their tags (the default).
    Run,
    /// Validate the config and print the poll plan: read blocks per device,
    /// requests per cycle, and the estimated load of every serial bus.
    Check,
    /// Run only the built-in Modbus simulator of the config's [simulator] section.
    Simulate {
        /// Listen address, overriding [simulator] listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Read registers from a device once and print them decoded (for commissioning).
    Read(ReadArgs),
    /// Hash a password for [[opcua.user]] password_hash (argon2id). Reads it twice from the terminal or stdin.
    HashPassword,
    /// OPC UA client certificates in [opcua] pki_dir: list them, trust one, reject one.
    Pki {
        #[command(subcommand)]
        action: PkiAction,
    },
}

#[derive(Subcommand)]
enum PkiAction {
    /// List trusted and rejected client certificates.
    List,
    /// Trust a rejected client certificate (moves it from rejected/ to trusted/).
    Trust {
        /// Part of the file name: the client's name or thumbprint.
        pattern: String,
    },
    /// Reject a trusted client certificate (moves it from trusted/ to rejected/).
    Reject {
        /// Part of the file name: the client's name or thumbprint.
        pattern: String,
    },
}

#[derive(clap::Args)]
struct ReadArgs {
    /// Modbus TCP device, "address:port".
    #[arg(long, conflicts_with = "port", required_unless_present = "port")]
    host: Option<String>,
    /// Serial port for Modbus RTU, e.g. /dev/ttyUSB0.
    #[arg(long)]
    port: Option<String>,
    #[arg(long, default_value_t = 19200)]
    baud: u32,
    #[arg(long, value_enum, default_value = "even")]
    parity: CliParity,
    #[arg(long, default_value_t = 1)]
    stop_bits: u8,
    /// Unit id (slave address).
    #[arg(long, default_value_t = 1)]
    unit: u8,
    /// Register kind; not needed with a Modicon address such as 40001.
    #[arg(long, value_enum)]
    kind: Option<CliKind>,
    /// 0-based address (with --kind), or a Modicon address: 40001 = holding 0, 30001 = input 0.
    #[arg(long)]
    address: String,
    /// Number of values to read.
    #[arg(long, default_value_t = 1)]
    count: u16,
    #[arg(long = "type", value_enum, default_value = "u16")]
    data_type: CliType,
    #[arg(long, value_enum, default_value = "abcd")]
    order: CliOrder,
    /// String length in registers (type string).
    #[arg(long, default_value_t = 8)]
    length: u16,
    /// Response timeout, e.g. 500ms.
    #[arg(long, default_value = "1s")]
    timeout: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum CliParity {
    None,
    Even,
    Odd,
}

#[derive(Clone, Copy, ValueEnum)]
enum CliKind {
    Coil,
    Discrete,
    Input,
    Holding,
}

#[derive(Clone, Copy, ValueEnum)]
enum CliType {
    Bool,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    String,
}

#[derive(Clone, Copy, ValueEnum)]
enum CliOrder {
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

fn main() -> ExitCode {
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
            ExitCode::from(1)
        }
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    match Config::load(path) {
        Ok(c) => Ok(c),
        Err(e @ ConfigError::Read { .. }) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
        Err(ConfigError::Invalid { diagnostics, .. }) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{}: config refused", path.display());
            Err(ExitCode::from(2))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
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
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            runtime()?.block_on(commands::run(&config, Some(&cli.config), shutdown_signal()))?;
        }
        Command::Check => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            for w in &config.warnings {
                eprintln!("{w}");
            }
            let (report, _) = commands::check_report(&config);
            print!("{report}");
            println!("{}: OK", cli.config.display());
        }
        Command::Simulate { listen } => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            runtime()?.block_on(commands::simulate(&config, listen, shutdown_signal()))?;
        }
        Command::Read(args) => read(args)?,
        Command::HashPassword => hash_password()?,
        Command::Pki { action } => {
            let config = match load(&cli.config) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let pki = config
                .opcua
                .as_ref()
                .map_or_else(|| PathBuf::from("pki"), |o| o.pki_dir.clone());
            pki_command(&pki, action)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(a: ReadArgs) -> Result<()> {
    let kind = a.kind.map(|k| match k {
        CliKind::Coil => Kind::Coil,
        CliKind::Discrete => Kind::Discrete,
        CliKind::Input => Kind::Input,
        CliKind::Holding => Kind::Holding,
    });
    let (kind, address, hint) =
        config::parse_address(kind, &a.address).map_err(anyhow::Error::msg)?;
    if hint.is_some() {
        eprintln!(
            "warning: with --kind, --address {} is the 0-based protocol address; if the manual says {}, drop --kind (then it is {} {})",
            a.address,
            a.address,
            kind.as_str(),
            a.address
                .trim()
                .parse::<u32>()
                .map_or(0, |n| n % 10_000)
                .saturating_sub(1)
        );
    }
    let data_type = match a.data_type {
        CliType::Bool => DataType::Bool,
        CliType::U16 => DataType::U16,
        CliType::I16 => DataType::I16,
        CliType::U32 => DataType::U32,
        CliType::I32 => DataType::I32,
        CliType::U64 => DataType::U64,
        CliType::I64 => DataType::I64,
        CliType::F32 => DataType::F32,
        CliType::F64 => DataType::F64,
        CliType::String => DataType::String,
    };
    if kind.is_bit() != (data_type == DataType::Bool) {
        bail!(
            "coils and discrete inputs read as --type bool; registers as a numeric type or string"
        );
    }
    let order = match a.order {
        CliOrder::Abcd => WordOrder::Abcd,
        CliOrder::Cdab => WordOrder::Cdab,
        CliOrder::Badc => WordOrder::Badc,
        CliOrder::Dcba => WordOrder::Dcba,
    };
    let target = match (a.host, a.port) {
        (Some(h), _) => Target::Tcp(if h.contains(':') {
            h
        } else {
            format!("{h}:502")
        }),
        (None, Some(port)) => Target::Rtu {
            port,
            serial: SerialSettings {
                baud: a.baud,
                parity: match a.parity {
                    CliParity::None => Parity::None,
                    CliParity::Even => Parity::Even,
                    CliParity::Odd => Parity::Odd,
                },
                stop_bits: a.stop_bits,
                data_bits: 8,
            },
        },
        (None, None) => bail!("give --host for Modbus TCP or --port for RTU"),
    };
    let probe = Probe {
        target,
        unit: a.unit,
        kind,
        address,
        count: a.count,
        encoding: Encoding {
            data_type,
            order,
            bit: None,
            length: a.length,
            scale: None,
            offset: 0.0,
        },
        timeout: config::parse_duration(&a.timeout)
            .map_err(anyhow::Error::msg)?
            .max(Duration::from_millis(1)),
    };
    let lines = runtime()?.block_on(commands::probe(&probe))?;
    print!("{}", commands::format_probe(&probe, &lines));
    Ok(())
}

fn hash_password() -> Result<()> {
    let (first, second) = if std::io::stdin().is_terminal() {
        (
            rpassword::prompt_password("Password: ").context("reading the password")?,
            rpassword::prompt_password("Again: ").context("reading the password")?,
        )
    } else {
        let mut lines = std::io::stdin().lock().lines();
        let mut next = || lines.next().transpose().map(Option::unwrap_or_default);
        (
            next().context("reading stdin")?,
            next().context("reading stdin")?,
        )
    };
    if first != second {
        bail!("the two passwords differ");
    }
    if first.is_empty() {
        bail!("empty password");
    }
    let hash =
        commands::hash_password(&first).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{hash}")?;
    Ok(())
}

fn pki_command(pki: &std::path::Path, action: PkiAction) -> Result<()> {
    use edge_gateway::opcua::pki;
    let mut out = std::io::stdout().lock();
    match action {
        PkiAction::List => {
            for folder in ["trusted", "rejected"] {
                let names = pki::list(pki, folder)
                    .with_context(|| format!("reading {}", pki.join(folder).display()))?;
                writeln!(out, "{folder}/ ({})", names.len())?;
                for n in names {
                    writeln!(out, "  {n}")?;
                }
            }
        }
        PkiAction::Trust { pattern } => {
            let moved = pki::move_cert(pki, "rejected", "trusted", &pattern)?;
            writeln!(out, "trusted: {}", moved.display())?;
        }
        PkiAction::Reject { pattern } => {
            let moved = pki::move_cert(pki, "trusted", "rejected", &pattern)?;
            writeln!(out, "rejected: {}", moved.display())?;
        }
    }
    Ok(())
}
