#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    flagger_relay_core::init_tracing();
    let env = flagger_relay_core::environment("gate", flagger_relay_gate::SECRETS, &[]).await;
    let gate = flagger_relay_gate::GateFunction::from_env(&env)
        .unwrap_or_else(|err| flagger_relay_core::exit_on_config_error("gate", &err));
    flagger_relay_gate::serve(gate).await
}
