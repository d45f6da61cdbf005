#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flagger_relay_core::init_tracing();
    let env = flagger_relay_core::environment(
        "teams",
        flagger_relay_teams::SECRETS,
        flagger_relay_teams::PARAMETERS,
    )
    .await;
    let relay = flagger_relay_teams::relay_from_env(&env)
        .unwrap_or_else(|err| flagger_relay_core::exit_on_config_error("teams", &err));
    flagger_relay_core::run(relay).await
}
