//! Operating saaskit: `/metrics`, request ids, rate limits, the request timeout, production's
//! silence about field names, batches, and logs that hold no secret.

mod batches;
mod hardening;
mod logs;
mod metrics;
mod process;
mod rates;
mod request_ids;

use crate::helpers::TestApp;

/// The Prometheus text of `app`'s `/metrics` (served on its HTTP port).
pub async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200, "/metrics answers");
    response.text().await.expect("a text body")
}

/// The sum of the samples of `name` whose labels include every pair of `labels`; 0 when none.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (series, ""),
            };
            let wanted = metric == name
                && labels
                    .iter()
                    .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\"")));
            wanted.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
