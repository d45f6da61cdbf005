use flagger_relay_core::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flagger_relay_core::init_tracing();
    let relay = flagger_relay_sns::relay_from_env(&ProcessEnv)
        .await
        .unwrap_or_else(|err| flagger_relay_core::exit_on_config_error("sns", &err));
    flagger_relay_core::run(relay).await
}
