#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flagger_relay_core::init_tracing();
    let env = flagger_relay_core::environment(
        "slack",
        flagger_relay_slack::SECRETS,
        flagger_relay_slack::PARAMETERS,
    )
    .await;
    let relay = flagger_relay_slack::relay_from_env(&env)
        .unwrap_or_else(|err| flagger_relay_core::exit_on_config_error("slack", &err));
    flagger_relay_core::run(relay).await
}
