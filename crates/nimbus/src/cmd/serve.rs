//! `nimbus serve`: flags, config file, defaults -> [`crate::serve::Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{self, ConfigFile};
use crate::serve::{Settings, serve};

/// Arguments of `nimbus serve`. Flags override the config file.
#[derive(clap::Args)]
pub struct Args {
    /// TOML config file (sections and options as in keystone.conf / nova.conf).
    #[arg(long, env = "NIMBUS_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory: SQLite database, Fernet keys, clouds.yaml [default: ./.nimbus].
    #[arg(long, env = "NIMBUS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8774].
    #[arg(long, env = "NIMBUS_LISTEN")]
    listen: Option<SocketAddr>,
    /// PostgreSQL URL (postgres://...) instead of SQLite in the data dir.
    #[arg(long, env = "NIMBUS_DATABASE_URL")]
    database_url: Option<String>,
    /// Base URL the catalog advertises [default: http://<listen address>].
    #[arg(long, env = "NIMBUS_PUBLIC_URL")]
    public_url: Option<String>,
    /// Token lifetime in seconds [default: 43200].
    #[arg(long)]
    token_expiration: Option<u64>,
    /// Debug logging.
    #[arg(long)]
    debug: bool,
}

/// Runs `nimbus serve`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let debug = args.debug || file.default.debug.unwrap_or(false);
    init_logging(debug);
    let settings = resolve(args, file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn resolve(args: Args, file: ConfigFile) -> anyhow::Result<Settings> {
    let data_dir = args
        .data_dir
        .or(file.default.state_path)
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_DATA_DIR));
    let data_dir = std::path::absolute(&data_dir)
        .with_context(|| format!("resolving data dir {}", data_dir.display()))?;
    let listen = match args.listen {
        Some(l) => l,
        None => {
            let default: SocketAddr = config::DEFAULT_LISTEN.parse()?;
            let host = file
                .default
                .bind_host
                .clone()
                .unwrap_or_else(|| default.ip().to_string());
            let port = file.default.bind_port.unwrap_or(default.port());
            format!("{host}:{port}")
                .parse::<SocketAddr>()
                .or_else(|_| format!("[{host}]:{port}").parse())
                .with_context(|| format!("bind_host {host} is not an IP address"))?
        }
    };
    let public_url = match args.public_url.or(file.default.public_endpoint) {
        Some(url) => url,
        None => {
            let host = if listen.ip().is_unspecified() {
                file.default
                    .my_ip
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1".to_string())
            } else {
                listen.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            format!("http://{host}:{}", listen.port())
        }
    };
    let public_url = public_url.trim_end_matches('/').to_string();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        anyhow::bail!("public URL {public_url} must start with http:// or https://");
    }
    let database_url = args.database_url.or(file.database.connection);
    let mut image = file.glance_store.resolve(&data_dir);
    image.import_filtering = file.import_filtering_opts.resolve();
    let compute = file.compute.resolve(&data_dir);
    let volume = file.backend_defaults.resolve(&data_dir);
    Ok(Settings {
        image,
        compute,
        volume,
        network: file.network,
        key_repository: file
            .fernet_tokens
            .key_repository
            .unwrap_or_else(|| data_dir.join("fernet-keys")),
        data_dir,
        listen,
        public_url,
        database_url,
        max_pool_size: file
            .database
            .max_pool_size
            .unwrap_or(nimbus_db::DEFAULT_MAX_POOL_SIZE),
        token_expiration: args
            .token_expiration
            .or(file.token.expiration)
            .unwrap_or(config::DEFAULT_TOKEN_EXPIRATION),
        max_active_keys: file
            .fernet_tokens
            .max_active_keys
            .unwrap_or(nimbus_identity::keys::DEFAULT_MAX_ACTIVE_KEYS),
        max_body: file
            .oslo_middleware
            .max_request_body_size
            .unwrap_or(config::DEFAULT_MAX_BODY),
        admin_password: std::env::var("NIMBUS_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
    })
}

fn init_logging(debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},sqlx=warn,hyper=warn"))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
