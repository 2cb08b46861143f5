//! Measurements of the Approval Center, run on demand (they are ignored otherwise and
//! assert no time): the time from the click on Approve to the page showing the
//! decision allowing, in a real headless Chromium, and the time to serve the queue's
//! page with 10,000 pending requests. Each prints its median and 90th percentile;
//! docs/PERFORMANCE.md gives the command and the figures.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::browser::{browser, driver, run, sign_in as sign_in_browser, tools};
use crate::support::*;

/// The median and 90th percentile, and the extremes, in milliseconds.
fn summary(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    let p50 = at(0.5);
    println!(
        "{name}: n={} p50={:.1} ms p90={:.1} ms min={:.1} ms max={:.1} ms",
        times.len(),
        ms(p50),
        ms(at(0.9)),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
    p50
}

const APPROVALS: u64 = 20;

/// From the click on Approve to the proof on the page (the request's execution
/// decided on the new policies: allow), 20 requests approved one after the other.
#[test]
#[ignore = "a measurement: cargo test -p portcullis-server --test server measure -- --ignored --nocapture"]
fn measure_approve_click_to_allow_in_a_browser() -> Fallible {
    if tools().is_none() {
        return Ok(());
    }
    let server = start_full(|gov| file_many(gov, APPROVALS), |_| {})?;
    let driver = driver()?;
    let times = run(async {
        let client = browser(&driver).await?;
        client.goto(&server.page("/approvals/login")).await?;
        sign_in_browser(&client, "ann").await?;
        client.wait().for_element(Locator::Id("request-1")).await?;
        let mut times = Vec::new();
        // Requests 2 to 21, each for its own file.
        for id in 2..2 + APPROVALS {
            client
                .goto(&server.page(&format!("/approvals/requests/{id}")))
                .await?;
            client
                .wait()
                .for_element(Locator::Id("approve-form"))
                .await?;
            client
                .find(Locator::Id("matching"))
                .await?
                .select_by_value("hash")
                .await?;
            let button = client.find(Locator::Id("approve-button")).await?;
            let start = Instant::now();
            button.click().await?;
            let proof = client
                .wait()
                .for_element(Locator::Id("proof-outcome"))
                .await?;
            let elapsed = start.elapsed();
            let text = proof.text().await?;
            assert!(text.starts_with("allow"), "request {id}: {text}");
            times.push(elapsed);
        }
        client.close().await?;
        Ok::<_, Box<dyn std::error::Error>>(times)
    })?;
    let p50 = summary("approve click to allow", times);
    println!(
        "target 200 ms: {}",
        if p50.as_millis() <= 200 {
            "met"
        } else {
            "missed"
        }
    );
    Ok(())
}

const PENDING: u64 = 10_000;

/// `GET /approvals` (the first page, and the last) with 10,000 pending requests,
/// filed through governance before the server starts; timed from the request sent to
/// the whole page received, over loopback.
#[test]
#[ignore = "a measurement: cargo test -p portcullis-server --test server measure -- --ignored --nocapture"]
fn measure_queue_page_with_10000_pending() -> Fallible {
    let filing = Instant::now();
    let server = start_full(|gov| file_many(gov, PENDING - 1), |_| {})?;
    println!(
        "{PENDING} pending requests filed in {:.1} s",
        filing.elapsed().as_secs_f64()
    );
    let ann = sign_in(&server, "ann")?;
    for (name, path) in [
        ("queue page 1", "/approvals"),
        ("queue page 200", "/approvals?state=pending&page=200"),
    ] {
        let mut times = Vec::new();
        for n in 0..35 {
            let start = Instant::now();
            let page = call("GET", &server.page(path), &ann, None)?;
            let elapsed = start.elapsed();
            assert_eq!(page.status, 200, "{page:?}");
            assert!(page.text().contains("of 200 (10000 matching"), "{name}");
            // The first five warm the caches.
            if n >= 5 {
                times.push(elapsed);
            }
        }
        let p50 = summary(name, times);
        println!(
            "target 100 ms: {}",
            if p50.as_millis() <= 100 {
                "met"
            } else {
                "missed"
            }
        );
    }
    Ok(())
}
