//! The `confab` command: the server and its administration (organizations,
//! users, keys, schema, demo data). A thin CLI over the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use confab::domain::organizations::model;
use confab::{Application, Config, Database};
use diesel_async::{AsyncConnection, AsyncPgConnection};

// Many small, short-lived allocations per request, from every worker thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "confab",
    version,
    about = "A messaging backend: one GraphQL API over PostgreSQL"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage api keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the GraphQL schema (SDL).
    PrintSchema,
    /// Create an organization full of demo data; prints its api key.
    SeedDemo(confab::domain::demo::DemoScale),
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization; prints its api key.
    Create {
        name: String,
        /// The PostgreSQL text search configuration its messages are
        /// searched in: `simple` (no stemming; suits multilingual chat),
        /// `english`, `german`, `french`, … (`\dF` in psql lists them).
        #[arg(long, default_value = "simple")]
        search_language: String,
    },
    /// Change an organization's search language; re-indexes its messages.
    SetSearchLanguage {
        #[arg(long)]
        org: String,
        language: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints the user's token.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create another api key for an organization; prints it.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[tokio::main]
async fn main() {
    // One line on failure (a busy port, say), not a backtrace.
    if let Err(error) = run_cli().await {
        eprintln!("confab: {error:#}");
        std::process::exit(1);
    }
}

async fn run_cli() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Logs go to stderr: stdout carries only what a command prints (tokens, SDL).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.config.log)
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::PrintSchema = command {
        print!("{}", confab::graphql::sdl());
        return Ok(());
    }
    let database = Database::open(&cli.config).await?;
    let result = run(command, &cli.config, &database.url).await;
    database.close().await;
    result
}

async fn run(command: Command, config: &Config, database_url: &str) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config, database_url).await,
        Command::Migrate | Command::PrintSchema => Ok(()),
        Command::Org(OrgCommand::Create {
            name,
            search_language,
        }) => {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            let (organization, key) = model::create_organization(&mut conn, &name)
                .await
                .with_context(|| {
                    format!("creating organization {name:?} (does it exist already?)")
                })?;
            set_search_language(&mut conn, &organization, &search_language).await?;
            println!("{}", key.token);
            Ok(())
        }
        Command::Org(OrgCommand::SetSearchLanguage { org, language }) => {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            let organization = find_organization(&mut conn, &org).await?;
            set_search_language(&mut conn, &organization, &language).await
        }
        Command::User(UserCommand::Create { org, name, email }) => {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            let organization = find_organization(&mut conn, &org).await?;
            let email = confab::domain::validation::normalize_email(&email)
                .with_context(|| format!("{email:?} is not an email address"))?;
            let user = model::create_user(&mut conn, organization.id, &name, &email)
                .await
                .with_context(|| format!("creating user {email:?} (does it exist already?)"))?;
            // The id (for memberIds and the like), then the token.
            println!("{} {}", user.owner.public_id, user.token);
            Ok(())
        }
        Command::SeedDemo(scale) => {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            let started = std::time::Instant::now();
            let summary = confab::domain::demo::seed(&mut conn, &scale)
                .await
                .with_context(|| {
                    format!(
                        "seeding organization {:?} (does it exist already?)",
                        scale.org
                    )
                })?;
            tracing::info!(messages = summary.messages, elapsed = ?started.elapsed(), "seeded demo data");
            println!("{}", summary.api_key);
            Ok(())
        }
        Command::Key(KeyCommand::Create { org, name }) => {
            let mut conn = AsyncPgConnection::establish(database_url).await?;
            let organization = find_organization(&mut conn, &org).await?;
            let key = model::create_api_key(&mut conn, organization.id, &name).await?;
            println!("{}", key.token);
            Ok(())
        }
    }
}

async fn set_search_language(
    conn: &mut AsyncPgConnection,
    organization: &model::Organization,
    language: &str,
) -> anyhow::Result<()> {
    if language == "simple" && model::search_language(conn, organization.id).await? == "simple" {
        return Ok(());
    }
    model::set_search_language(conn, organization.id, language)
        .await
        .with_context(|| {
            format!(
                "setting the search language to {language:?} (is it a text search configuration?)"
            )
        })
}

async fn find_organization(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> anyhow::Result<model::Organization> {
    model::find_organization_by_name(conn, name)
        .await?
        .with_context(|| format!("no organization named {name:?}"))
}

async fn serve(config: &Config, database_url: &str) -> anyhow::Result<()> {
    let shutdown = shutdown_signal()?;
    let app = Application::build(config, database_url).await?;
    let address = app.local_addr()?;
    let graphiql = format!("http://{address}/");
    {
        let mut conn = app.pool().get().await?;
        if let Some((organization, key)) = model::create_default_if_empty(&mut conn).await? {
            println!(
                "Created organization {:?}. Its api key (shown only once):",
                organization.name
            );
            println!();
            println!("    {}", key.token);
            println!();
            println!(
                "Open GraphiQL with it (the key stays in your browser): {graphiql}#token={}",
                key.token
            );
        } else {
            println!(
                "GraphiQL needs a key: open {graphiql}#token=<key>. Make one with \
                 `confab key create --org default` (or `cargo run --release -- key create --org default`)."
            );
        }
    }
    println!("confab is serving GraphQL at {graphiql}graphql and GraphiQL at {graphiql}");
    app.serve(shutdown).await?;
    tracing::info!("shut down");
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed
/// now, before the server announces itself, so an early signal still shuts
/// it down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}
