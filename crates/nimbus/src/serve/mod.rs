//! `nimbus serve`: every service on one address under path prefixes, as
//! DevStack lays them out.

mod clouds;
mod middleware;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use nimbus_common::{ApiError, ErrorStyle, render_errors};
use nimbus_db::Db;
use nimbus_identity::{CatalogService, Identity, IdentityConfig};
use prometheus_client::registry::Registry;
use tower::Layer;

/// Everything `serve` needs, resolved from flags, config file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory (SQLite file, keys, clouds.yaml).
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Base URL advertised in the catalog.
    pub public_url: String,
    /// Database URL; `None` for SQLite in the data dir.
    pub database_url: Option<String>,
    /// Pool size.
    pub max_pool_size: u32,
    /// Token lifetime, seconds.
    pub token_expiration: u64,
    /// Fernet key directory.
    pub key_repository: PathBuf,
    /// Keys kept.
    pub max_active_keys: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Password for the admin user on first start.
    pub admin_password: Option<String>,
    /// Image service settings (`[glance_store]`).
    pub image: nimbus_image::ImageConfig,
    /// Compute service settings (`[compute]`).
    pub compute: nimbus_compute::ComputeConfig,
    /// Volume service settings (`[backend_defaults]`).
    pub volume: nimbus_volume::VolumeConfig,
    /// Network service settings (`[network]`).
    pub network: nimbus_network::NetworkConfig,
}

/// The catalog: the services served here and their paths.
fn catalog() -> Vec<CatalogService> {
    vec![
        CatalogService::new("identity", "keystone", "/identity"),
        CatalogService::new("image", "glance", "/image"),
        CatalogService::new("compute", "nova", "/compute/v2.1"),
        CatalogService::new("block-storage", "cinder", "/volume/v3/$(project_id)s"),
        CatalogService::new("volumev3", "cinderv3", "/volume/v3/$(project_id)s"),
        CatalogService::new("network", "neutron", "/network"),
    ]
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let db = match &settings.database_url {
        Some(url) => Db::connect(url, settings.max_pool_size).await,
        None => {
            Db::open_sqlite(
                &settings.data_dir.join("nimbus.sqlite"),
                settings.max_pool_size,
            )
            .await
        }
    }
    .context("opening the database")?;
    db.migrate().await.context("migrating the database")?;

    let identity = Identity::open(
        &db,
        IdentityConfig {
            public_url: settings.public_url.clone(),
            expiration_secs: settings.token_expiration,
            key_repository: settings.key_repository.clone(),
            max_active_keys: settings.max_active_keys,
            catalog: catalog(),
        },
    )
    .await
    .context("starting the identity service")?;
    bootstrap(&identity, &settings).await?;
    if identity
        .rotate_keys_if_due()
        .context("rotating fernet keys")?
    {
        tracing::info!("fernet keys rotated at start");
    }
    spawn_key_rotation(identity.clone());

    let image = nimbus_image::ImageService::new(db.clone(), settings.image.clone())
        .await
        .context("starting the image service")?;
    // One network and one volume service for their APIs and, in process,
    // for the compute service (server ports, volume attachments).
    let network = nimbus_network::NetworkService::new(db.clone(), settings.network.clone())
        .context("starting the network service")?;
    let volume =
        nimbus_volume::VolumeService::new(db.clone(), settings.volume.clone(), Some(image.clone()))
            .await
            .context("starting the volume service")?;
    let compute = nimbus_compute::ComputeService::new(
        db.clone(),
        settings.compute.clone(),
        nimbus_compute::Peers {
            images: nimbus_image::client::ImageClient::new(image.clone()),
            network: network.clone(),
            volume: volume.clone(),
        },
    )
    .await
    .context("starting the compute service")?;
    let app = app(
        &identity,
        &db,
        &image,
        &compute,
        &volume,
        &network,
        settings.max_body,
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "nimbus is serving");
    let service = tower::util::MapRequestLayer::new(middleware::trim_trailing_slash).layer(app);
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(service),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    db.close().await;
    Ok(())
}

/// First start: the admin account and clouds.yaml; later starts: repoint clouds.yaml.
async fn bootstrap(identity: &Identity, settings: &Settings) -> anyhow::Result<()> {
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.clone(), false),
        None => (generate_password(), true),
    };
    let outcome = identity
        .bootstrap(&password)
        .await
        .context("bootstrapping identity")?;
    let clouds = settings.data_dir.join("clouds.yaml");
    let auth_url = format!("{}/identity", settings.public_url);
    if outcome.created_admin {
        clouds::write(&clouds, &auth_url, &password)?;
        if generated {
            println!("nimbus: generated admin password: {password}");
        } else {
            println!("nimbus: admin password taken from NIMBUS_ADMIN_PASSWORD");
        }
        println!("nimbus: wrote {} (cloud `nimbus`)", clouds.display());
    } else if clouds.exists() {
        clouds::update_auth_url(&clouds, &auth_url)?;
    } else {
        tracing::warn!(path = %clouds.display(), "the admin user exists but clouds.yaml is missing; it is only written on first start");
    }
    Ok(())
}

fn generate_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

fn spawn_key_rotation(identity: Identity) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = identity.rotate_keys_if_due() {
                tracing::error!(error = %e, "fernet key rotation failed");
            }
        }
    });
}

#[derive(Clone)]
struct AppState {
    db: Db,
    registry: Arc<Registry>,
}

/// The whole HTTP application.
pub fn app(
    identity: &Identity,
    db: &Db,
    image: &nimbus_image::ImageService,
    compute: &nimbus_compute::ComputeService,
    volume: &nimbus_volume::VolumeService,
    network: &nimbus_network::NetworkService,
    max_body: usize,
) -> Router {
    let mut registry = Registry::default();
    let metrics = middleware::Metrics::register(&mut registry);
    let state = AppState {
        db: db.clone(),
        registry: Arc::new(registry),
    };
    let base = identity.public_url().to_string();
    Router::new()
        .nest("/identity", identity.router())
        .nest("/image", {
            let auth = identity.auth_layer();
            nimbus_image::router(image.clone(), &base, move |r| r.route_layer(auth))
        })
        .nest("/compute", {
            let auth = identity.auth_layer();
            nimbus_compute::router(compute.clone(), &base, move |r| r.route_layer(auth))
        })
        .nest("/volume", {
            let auth = identity.auth_layer();
            nimbus_volume::router(volume.clone(), &base, move |r| r.route_layer(auth))
        })
        .nest("/network", {
            let auth = identity.auth_layer();
            nimbus_network::router(network.clone(), &base, move |r| r.route_layer(auth))
        })
        .merge(
            Router::new()
                .route("/healthcheck", get(healthcheck))
                .route("/metrics", get(metrics_text))
                .fallback(|| async { ApiError::not_found("The resource could not be found.") })
                .layer(render_errors(ErrorStyle::Keystone))
                .with_state(state),
        )
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            middleware::observe,
        ))
        .layer(DefaultBodyLimit::max(max_body))
}

/// oslo.middleware's healthcheck: 200 `OK`, or 503 when the database is gone.
async fn healthcheck(State(state): State<AppState>) -> impl IntoResponse {
    if state.db.ping().await {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

async fn metrics_text(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry)
        .map_err(ApiError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
