//! Creates the template's table and queues in the emulator (or any endpoint), plus the two
//! credential secrets from `SALESFORCE_*` / `GENESYS_*` variables when they are set, and prints
//! the functions' environment as `NAME=value` lines (an env file for `cargo lambda watch`).
//!
//! ```sh
//! eval "$(infra/moto start)"
//! cargo run -p contact-sync-aws --bin contact-sync-bootstrap -- [PREFIX] > .contact-sync/lambda.env
//! ```
//!
//! It refuses to run without `CONTACT_SYNC_MOTO_URL` (or `AWS_ENDPOINT_URL`), so that it never
//! creates resources in a real account by accident.

use contact_sync_aws::deployment::{AWS_ENDPOINT_URL, GENESYS_SECRET_ARN, SALESFORCE_SECRET_ARN};
use contact_sync_aws::emulator::{MOTO_URL, sdk_config};
use contact_sync_aws::provision::provision;
use contact_sync_aws::template::Resources;
use contact_sync_connectors::environment as env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var(MOTO_URL)
        .or_else(|_| std::env::var(AWS_ENDPOINT_URL))
        .map_err(|_| format!("set {MOTO_URL} (infra/moto start) or {AWS_ENDPOINT_URL}"))?;
    let prefix = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "contact-sync-local".to_string());
    let sdk = sdk_config(&endpoint).await;
    let provisioned = provision(&sdk, &Resources::of_template()?, &prefix).await?;
    println!("{AWS_ENDPOINT_URL}={endpoint}");
    println!("AWS_REGION=us-east-1");
    println!("AWS_ACCESS_KEY_ID=testing");
    println!("AWS_SECRET_ACCESS_KEY=testing");
    for (name, value) in provisioned.variables() {
        println!("{name}={value}");
    }
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    for (variable, name, fields) in [
        (
            SALESFORCE_SECRET_ARN,
            "salesforce",
            &[
                ("client_id", env::SALESFORCE_CLIENT_ID),
                ("client_secret", env::SALESFORCE_CLIENT_SECRET),
                ("login_url", env::SALESFORCE_LOGIN_URL),
            ][..],
        ),
        (
            GENESYS_SECRET_ARN,
            "genesys",
            &[
                ("client_id", env::GENESYS_CLIENT_ID),
                ("client_secret", env::GENESYS_CLIENT_SECRET),
                ("region", env::GENESYS_REGION),
                ("api_base", env::GENESYS_API_BASE),
                ("login_base", env::GENESYS_LOGIN_BASE),
            ][..],
        ),
    ] {
        let doc: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .filter_map(|(field, var)| Some((field.to_string(), std::env::var(var).ok()?.into())))
            .collect();
        if doc.contains_key("client_secret") {
            let arn = secrets
                .create_secret()
                .name(format!("{prefix}-{name}"))
                .secret_string(serde_json::Value::Object(doc).to_string())
                .send()
                .await?
                .arn
                .unwrap_or_default();
            println!("{variable}={arn}");
        } else {
            eprintln!("{name}: no client secret in the environment; no secret created");
        }
    }
    Ok(())
}
