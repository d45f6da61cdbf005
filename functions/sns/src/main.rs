#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flagger_relay_core::init_tracing();
    let env = flagger_relay_core::environment("sns", &[], flagger_relay_sns::PARAMETERS).await;
    let relay = flagger_relay_sns::relay_from_env(&env)
        .await
        .unwrap_or_else(|err| flagger_relay_core::exit_on_config_error("sns", &err));
    flagger_relay_core::run(relay).await
}
