//! What travels: TLS with a certificate from a private authority made by openssl,
//! and slow or silent clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{start, start_with, Fallible, PASSWORD};
use portcullis_server::Client;

/// A private authority and a certificate it signed for 127.0.0.1, made by openssl:
/// (the authority's certificate, the server's certificate, its key).
fn certificate(dir: &Path) -> Fallible<(PathBuf, PathBuf, PathBuf)> {
    let file = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| -> Fallible {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()?;
        assert!(status.success(), "openssl {args:?} failed");
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=Test Authority",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        file("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ])?;
    Ok((file("ca.pem"), file("server.pem"), file("server.key")))
}

#[test]
fn over_tls_the_client_trusts_the_servers_own_certificate_and_cookies_are_secure() -> Fallible {
    let pem = tempfile::tempdir()?;
    let (authority, cert, key) = certificate(pem.path())?;
    let (c, k) = (cert.clone(), key.clone());
    let server = start_with(move |config| config.tls = Some((c, k)))?;
    let base = format!("https://{}", server.addr);

    // Without the certificate, the system's authorities do not vouch for it.
    let untrusted = Client::anonymous(&base, None)?.token_with_password("ann", PASSWORD, "laptop");
    assert!(untrusted.is_err(), "{untrusted:?}");

    let token = Client::anonymous(&base, Some(&authority))?
        .token_with_password("ann", PASSWORD, "laptop")?;
    let client = Client::new(&base, &token, Some(&authority))?;
    let me: serde_json::Value = client.get("/session")?;
    assert_eq!(me["admin"], "ann");
    let queue: serde_json::Value = client.get("/requests")?;
    assert_eq!(queue[0]["id"], 1);

    // The session cookie is Secure under TLS.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                    ureq::tls::Certificate::from_der(
                        &rustls_pemfile::certs(&mut std::fs::read(&authority)?.as_slice())
                            .next()
                            .unwrap()?,
                    )
                    .to_owned(),
                ])))
                .build(),
        )
        .build()
        .into();
    let answer = agent
        .post(format!("{base}/api/v1/session"))
        .header("Content-Type", "application/json")
        .send(format!(r#"{{"admin": "ann", "password": "{PASSWORD}"}}"#))?;
    let cookie = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no answer.
    let plain = super::support::call(
        "GET",
        &format!("http://{}/api/v1/session", server.addr),
        &super::support::Auth::default(),
        None,
    );
    assert!(plain.is_err() || plain.is_ok_and(|a| a.status >= 400));
    Ok(())
}

#[test]
fn a_client_that_stops_sending_its_body_gets_408_and_one_that_stops_its_headers_is_cut_off(
) -> Fallible {
    let server = start()?;

    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr)?;
    slow.set_read_timeout(Some(Duration::from_secs(20)))?;
    slow.write_all(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"admin\"",
    )?;
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    let mut silent = TcpStream::connect(server.addr)?;
    silent.set_read_timeout(Some(Duration::from_secs(20)))?;
    silent.write_all(b"GET /api/v1/session HTTP/1.1\r\nHost: x\r\n")?;
    let mut rest = Vec::new();
    let read = silent.read_to_end(&mut rest);
    assert!(
        read.is_err() || rest.is_empty() || String::from_utf8_lossy(&rest).contains("408"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );

    // The server still answers everyone else.
    let fine = super::support::call(
        "GET",
        &server.url("/openapi.json"),
        &super::support::Auth::default(),
        None,
    )?;
    assert_eq!(fine.status, 200);
    Ok(())
}
