//! The calibration row of the cold-start table: the smallest Function URL function there is,
//! built with the same lambda_http, tokio and release profile as the real ones, answering 200
//! without touching the network. What it costs on this machine is the floor that the runtime,
//! the process and the harness put under every function; public hello-world figures from Lambda
//! compare with this row, not with ours.

use lambda_http::{Body, Request, Response};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|_: Request| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::Text(r#"{"status":"hello"}"#.into())))
    }))
    .await
}
