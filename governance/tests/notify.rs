#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Notifications over real channels: an SMTP server (aiosmtpd) and an HTTP SMS gateway
//! on loopback.

mod support;

use std::path::Path;
use std::time::Duration;

use portcullis_engine::Event;
use portcullis_governance::{
    AccessRequestKind, AdminRecord, ApproveOptions, Channel, Channels, Error, FileRequest,
    Governance, Grant, Grantable, Matching, NotifyConfig, OutboxState, Permission, RetryConfig,
    ScopeKind, SmsConfig, SmtpConfig, TlsMode, Transport, Transports,
};
use support::servers::{free_port, HttpServer, SmtpServer};

const EXAMPLE: &str = include_str!("../../examples/bundle.json");
const LINK_BASE: &str = "https://portcullis.test/approvals";

fn init(dir: &Path) -> Governance {
    support::init_dir(
        dir,
        portcullis_engine::parse(EXAMPLE).unwrap(),
        admin("root", "northwind", None, None),
    )
    .unwrap()
}

fn admin(id: &str, org: &str, email: Option<&str>, phone: Option<&str>) -> AdminRecord {
    AdminRecord {
        id: id.into(),
        name: id.to_uppercase(),
        organization: org.into(),
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
    }
}

fn config(smtp_port: u16, sms_port: u16, base_seconds: i64, max_attempts: u32) -> NotifyConfig {
    NotifyConfig {
        link_base: LINK_BASE.into(),
        email: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: smtp_port,
            tls: TlsMode::None,
            username: None,
            password_env: None,
            from: "Portcullis <portcullis@northwind.example>".into(),
            timeout_seconds: 5,
        }),
        sms: Some(SmsConfig {
            url: format!("http://127.0.0.1:{sms_port}/2010-04-01/Messages"),
            body: "To={to}&From=%2B15550000000&Body={message}".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            headers: [("X-Account".to_owned(), "northwind".to_owned())].into(),
            username: None,
            password_env: None,
            timeout_seconds: 5,
        }),
        retry: RetryConfig {
            base_seconds,
            max_attempts,
            ..RetryConfig::default()
        },
    }
}

const SHA: &str = "4f2c9b1d7e3a5c8f0b6d2e9a1c4f7b3d5e8a0c2f6b9d1e4a7c3f5b8d0e2a6c9f";

fn blocked() -> Event {
    Event::from_json(&format!(
        r#"{{"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": "C:\\Users\\amy\\Downloads\\labelprint.exe", "sha256": "{SHA}",
            "signature": {{"status": "valid", "signers": [{{"subject": "CN=Label Co, O=Label Co",
                           "issuer": "CN=Label Co CA"}}]}},
            "time": "2026-11-22T10:00:00Z"}}"#
    ))
    .unwrap()
}

/// Administrators: two who asked for application requests in lakeside's lineage (one
/// by email and SMS, the MSP one by email), one whose address is also on the default
/// deny's list, one in a sibling organization, and one who asked for elevation only.
fn staff(gov: &mut Governance) {
    let people = [
        (
            "ann",
            "lakeside",
            Some("ann@lakeside.example"),
            Some("+15555550111"),
        ),
        ("bob", "northwind", Some("bob@northwind.example"), None),
        (
            "ivy",
            "lakeside",
            Some("IT@lakeside.example"),
            Some("+15555550100"),
        ),
        ("carl", "harbor", Some("carl@harbor.example"), None),
        ("dora", "lakeside", Some("dora@lakeside.example"), None),
    ];
    for (id, org, email, phone) in people {
        gov.put_admin("root", admin(id, org, email, phone)).unwrap();
        // Being told of a request needs the permission to open it.
        let grant = match id {
            "dora" => Permission::ElevationAdministrator,
            _ => Permission::ApproveComputer,
        };
        gov.grant(
            "root",
            Grant {
                admin: id.into(),
                organization: org.into(),
                what: Grantable::Permission(grant),
            },
        )
        .unwrap();
    }
    let both = Channels {
        email: true,
        sms: true,
    };
    let email = Channels {
        email: true,
        sms: false,
    };
    gov.set_notify("ann", "ann", AccessRequestKind::Application, both)
        .unwrap();
    gov.set_notify("root", "bob", AccessRequestKind::Application, email)
        .unwrap();
    gov.set_notify("root", "ivy", AccessRequestKind::Application, both)
        .unwrap();
    gov.set_notify("root", "carl", AccessRequestKind::Application, email)
        .unwrap();
    gov.set_notify("root", "dora", AccessRequestKind::Elevation, email)
        .unwrap();
}

fn file(gov: &mut Governance) -> i64 {
    gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: blocked(),
        message: "I need this to print patient labels".into(),
        email: Some("amy@lakeside.example".into()),
        attachment: None,
    })
    .unwrap()
    .id
}

#[test]
fn the_right_people_get_exactly_one_message_each_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start(free_port(), dir.path());
    let gateway = HttpServer::start(free_port(), 201);
    let mut gov = init(&dir.path().join("state"));
    gov.configure_notifications("root", config(smtp.port, gateway.port, 30, 5))
        .unwrap();
    staff(&mut gov);
    let id = file(&mut gov);
    let report = gov.deliver_notifications(false).unwrap();
    assert_eq!(report.delivered, 5, "{report:?}");

    // Email: ann and bob by their settings; it@lakeside.example once, though both ivy's
    // setting and the default deny's list name it. Not carl (a sibling organization)
    // nor dora (elevation requests only).
    let mails = smtp.messages();
    let to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        to,
        [
            "ann@lakeside.example",
            "bob@northwind.example",
            "it@lakeside.example"
        ]
    );
    let link = format!("{LINK_BASE}/requests/{id}");
    for mail in &mails {
        assert!(mail.from.contains("portcullis@northwind.example"));
        assert!(
            mail.subject.contains(&format!("Access request {id}")),
            "{}",
            mail.subject
        );
        for field in [
            "Lakeside Clinic",
            "FRONTDESK-01",
            "LAKESIDE\\amy",
            "I need this to print patient labels",
            "C:\\Users\\amy\\Downloads\\labelprint.exe",
            SHA,
            "CN=Label Co, O=Label Co",
            "the default deny",
            &link,
        ] {
            assert!(
                mail.body.contains(field),
                "{field} missing from {}",
                mail.body
            );
        }
    }
    // The link opens the request.
    let linked: i64 = link.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(
        gov.request("root", linked).unwrap().filed.event.path,
        blocked().path
    );

    // SMS: ann's phone and the default deny's number, once each.
    let mut sms: Vec<(String, String)> = gateway
        .received()
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/2010-04-01/Messages");
            assert!(r
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("X-Account") && v == "northwind"));
            (r.form("To").unwrap(), r.form("Body").unwrap())
        })
        .collect();
    sms.sort();
    let numbers: Vec<&str> = sms.iter().map(|(to, _)| to.as_str()).collect();
    assert_eq!(numbers, ["+15555550100", "+15555550111"]);
    for (_, text) in &sms {
        assert!(text.contains("FRONTDESK-01") && text.contains("Lakeside Clinic"));
        assert!(text.contains(&link), "{text}");
    }

    // Nothing is sent twice.
    assert_eq!(gov.deliver_notifications(true).unwrap().delivered, 0);
    assert_eq!(smtp.messages().len(), 3);

    // The requester hears the outcome, once.
    gov.approve(
        "root",
        id,
        ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
    )
    .unwrap();
    assert_eq!(gov.deliver_notifications(false).unwrap().delivered, 1);
    let outcome: Vec<_> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.to == "amy@lakeside.example")
        .collect();
    assert_eq!(outcome.len(), 1);
    assert!(outcome[0].subject.contains("was approved"));
    assert!(outcome[0].body.contains("You can run it now"));
    assert!(gov
        .outbox("root", None)
        .unwrap()
        .iter()
        .all(|o| o.state == OutboxState::Delivered && o.attempts == 1));
}

#[test]
fn a_server_down_at_first_then_up_gets_every_notification_once() {
    let dir = tempfile::tempdir().unwrap();
    let (smtp_port, sms_port) = (free_port(), free_port());
    let state = dir.path().join("state");
    {
        let mut gov = init(&state);
        gov.configure_notifications("root", config(smtp_port, sms_port, 3600, 5))
            .unwrap();
        staff(&mut gov);
        file(&mut gov);
        // Both servers are down.
        let report = gov.deliver_notifications(false).unwrap();
        assert_eq!((report.delivered, report.retrying), (0, 5), "{report:?}");
        assert!(report
            .errors
            .iter()
            .any(|(_, e)| e.contains(&format!("127.0.0.1:{smtp_port}"))));
        // Not due again before the backoff.
        assert_eq!(gov.deliver_notifications(false).unwrap().retrying, 0);
        // The process ends here, as a crash would end it: nothing is in memory.
    }
    let smtp = SmtpServer::start(smtp_port, dir.path());
    let gateway = HttpServer::start(sms_port, 200);
    let mut gov = support::open_dir(&state).unwrap();
    let report = gov.deliver_notifications(true).unwrap();
    assert_eq!(report.delivered, 5, "{report:?}");
    assert_eq!(gov.deliver_notifications(true).unwrap().delivered, 0);
    assert_eq!(smtp.messages().len(), 3);
    assert_eq!(gateway.received().len(), 2);
    let outbox = gov.outbox("root", None).unwrap();
    assert!(outbox
        .iter()
        .all(|o| o.state == OutboxState::Delivered && o.attempts == 2));
}

#[test]
fn bad_configuration_is_a_clear_error_or_a_retried_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init(dir.path());
    let port = free_port();
    let mut bad = config(port, port, 0, 2);
    bad.link_base = "portcullis.test".into();
    let error = gov.configure_notifications("root", bad).unwrap_err();
    assert!(error.to_string().contains("link_base"), "{error}");
    let mut bad = config(port, port, 0, 2);
    bad.email.as_mut().unwrap().from = "not an address".into();
    assert!(gov
        .configure_notifications("root", bad)
        .unwrap_err()
        .to_string()
        .contains("email.from"));
    let mut bad = config(port, port, 0, 2);
    bad.sms.as_mut().unwrap().body = "Body={message}".into();
    assert!(gov
        .configure_notifications("root", bad)
        .unwrap_err()
        .to_string()
        .contains("{to}"));
    assert!(gov.notify_config().unwrap().is_none());

    // SMS needs a phone number; a malformed one is refused when the administrator is
    // saved.
    gov.put_admin(
        "root",
        admin("eve", "lakeside", Some("eve@lakeside.example"), None),
    )
    .unwrap();
    let sms_only = Channels {
        email: false,
        sms: true,
    };
    let error = gov
        .set_notify("root", "eve", AccessRequestKind::Application, sms_only)
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidInput { reason: m, .. } if m.contains("phone number")),
        "{error}"
    );
    let error = gov
        .put_admin("root", admin("eve", "lakeside", None, Some("555-0100")))
        .unwrap_err();
    assert!(error.to_string().contains("phone"), "{error}");
    // Only Edit Administrators (or oneself) changes someone's settings.
    gov.put_admin(
        "root",
        admin("fay", "lakeside", Some("fay@lakeside.example"), None),
    )
    .unwrap();
    let email = Channels {
        email: true,
        sms: false,
    };
    assert!(matches!(
        gov.set_notify("fay", "eve", AccessRequestKind::Application, email),
        Err(Error::Refused(_))
    ));

    // An unreachable server: retried, then given up with the error, never lost.
    gov.configure_notifications("root", config(port, port, 0, 2))
        .unwrap();
    gov.grant(
        "root",
        Grant {
            admin: "eve".into(),
            organization: "lakeside".into(),
            what: Grantable::Permission(Permission::ApproveComputer),
        },
    )
    .unwrap();
    gov.set_notify("eve", "eve", AccessRequestKind::Application, email)
        .unwrap();
    file(&mut gov);
    let first = gov.deliver_notifications(false).unwrap();
    assert_eq!((first.retrying, first.failed), (3, 0), "{first:?}");
    let second = gov.deliver_notifications(false).unwrap();
    assert_eq!((second.retrying, second.failed), (0, 3), "{second:?}");
    let outbox = gov.outbox("root", None).unwrap();
    assert_eq!(outbox.len(), 3);
    assert!(outbox.iter().all(|o| o.state == OutboxState::Failed
        && o.attempts == 2
        && o.last_error.as_deref().is_some_and(|e| !e.is_empty())));
}

/// Three approvers of summit, told of application requests by email only, and
/// `requests` requests on a summit computer (whose default deny names nobody): three
/// emails a request. Returns the pending notifications.
fn many(gov: &mut Governance, requests: u32) -> usize {
    for id in ["sam", "sue", "sid"] {
        let email = format!("{id}@summit.example");
        gov.put_admin("root", admin(id, "summit", Some(&email), None))
            .unwrap();
        gov.grant(
            "root",
            Grant {
                admin: id.into(),
                organization: "summit".into(),
                what: Grantable::Permission(Permission::ApproveComputer),
            },
        )
        .unwrap();
        let email = Channels {
            email: true,
            sms: false,
        };
        gov.set_notify("root", id, AccessRequestKind::Application, email)
            .unwrap();
    }
    for n in 0..requests {
        let event = Event::from_json(&format!(
            r#"{{"computer": "summit-build-01", "user": "sam", "path": "/home/sam/bin/tool-{n}",
                "sha256": "{:064x}", "time": "2026-11-22T10:00:00Z"}}"#,
            0xfeed_0000_u64 + u64::from(n)
        ))
        .unwrap();
        gov.file_request(FileRequest {
            kind: AccessRequestKind::Application,
            event,
            message: format!("request {n}"),
            email: None,
            attachment: None,
        })
        .unwrap();
    }
    gov.outbox("root", Some(OutboxState::Pending))
        .unwrap()
        .len()
}

fn email_only(smtp_port: u16, lease_seconds: i64) -> NotifyConfig {
    let mut config = config(smtp_port, free_port(), 3600, 5);
    config.sms = None;
    if let Some(email) = &mut config.email {
        email.timeout_seconds = 1;
    }
    config.retry.lease_seconds = lease_seconds;
    config
}

#[test]
fn concurrent_senders_against_a_slow_server_send_each_notification_once() {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let state = dir.path().join("state");
    let pending = {
        let mut gov = init(&state);
        gov.configure_notifications("root", email_only(smtp_port, 120))
            .unwrap();
        many(&mut gov, 3)
    };
    assert_eq!(pending, 9, "sam, sue and sid for each of 3 requests");
    let smtp = SmtpServer::start_slow(smtp_port, dir.path(), Duration::from_millis(150));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let state = state.clone();
            std::thread::spawn(move || {
                let mut gov = support::open_dir(&state).unwrap();
                gov.deliver_notifications(true).unwrap()
            })
        })
        .collect();
    let reports: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    let delivered: usize = reports.iter().map(|r| r.delivered).sum();
    assert_eq!(delivered, 9, "{reports:?}");
    assert_eq!(smtp.messages().len(), 9, "{reports:?}");
    let gov = support::open_dir(&state).unwrap();
    assert!(gov
        .outbox("root", None)
        .unwrap()
        .iter()
        .all(|o| o.state == OutboxState::Delivered && o.attempts == 1));
}

#[test]
fn a_batch_that_outlives_its_lease_is_not_sent_again_by_the_next_sender() {
    let dir = tempfile::tempdir().unwrap();
    let smtp_port = free_port();
    let state = dir.path().join("state");
    let pending = {
        let mut gov = init(&state);
        // Each send fits in the 2-second lease; the whole batch (12 × 0.4 s) does not.
        gov.configure_notifications("root", email_only(smtp_port, 2))
            .unwrap();
        many(&mut gov, 4)
    };
    assert_eq!(pending, 12);
    let smtp = SmtpServer::start_slow(smtp_port, dir.path(), Duration::from_millis(400));
    let first = {
        let state = state.clone();
        std::thread::spawn(move || {
            let mut gov = support::open_dir(&state).unwrap();
            gov.deliver_notifications(false).unwrap()
        })
    };
    // The next run starts once the first run's batch claim has lapsed.
    std::thread::sleep(Duration::from_millis(3_200));
    let mut gov = support::open_dir(&state).unwrap();
    let second = gov.deliver_notifications(false).unwrap();
    let first = first.join().unwrap();
    assert_eq!(
        first.delivered + second.delivered,
        12,
        "{first:?} {second:?}"
    );
    assert!(second.delivered > 0, "the second run took over: {second:?}");
    assert_eq!(first.skipped, second.delivered, "{first:?} {second:?}");
    assert_eq!(smtp.messages().len(), 12);
    assert!(first.errors.is_empty() && second.errors.is_empty());
}

/// A transport that keeps what it is given, or refuses everything.
struct Recorder {
    sent: std::sync::Mutex<Vec<(String, String)>>,
    refuse: bool,
}

impl Transport for Recorder {
    fn send(&self, n: &portcullis_governance::Notification) -> Result<(), String> {
        if self.refuse {
            return Err(format!("refused {}", n.recipient));
        }
        self.sent
            .lock()
            .unwrap()
            .push((n.recipient.clone(), n.subject.clone()));
        Ok(())
    }
}

#[test]
fn a_substitute_transport_sends_in_place_of_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init(dir.path());
    staff(&mut gov);
    // Nothing listens on these ports: only the substitute can deliver.
    gov.configure_notifications("root", config(free_port(), free_port(), 0, 3))
        .unwrap();
    let id = file(&mut gov);
    let email = Recorder {
        sent: std::sync::Mutex::new(Vec::new()),
        refuse: false,
    };
    let sms = Recorder {
        sent: std::sync::Mutex::new(Vec::new()),
        refuse: true,
    };
    let transports = Transports::default().email(email).sms(sms);
    let report = gov.deliver_notifications_via(false, &transports).unwrap();
    assert_eq!(report.failed, 0);
    assert!(report.delivered >= 3, "{report:?}");
    assert!(report.retrying >= 2, "{report:?}");
    assert!(
        report
            .errors
            .iter()
            .all(|(_, e)| e.starts_with("refused +")),
        "{report:?}"
    );
    let outbox = gov.outbox("root", Some(OutboxState::Delivered)).unwrap();
    assert!(outbox
        .iter()
        .all(|o| o.notification.channel == Channel::Email));
    assert!(outbox.iter().any(|o| o
        .notification
        .subject
        .starts_with(&format!("Access request {id} "))));
    // Without a transport for a channel, its messages wait with the reason.
    let email_only = Transports::default().email(Recorder {
        sent: std::sync::Mutex::new(Vec::new()),
        refuse: false,
    });
    let report = gov.deliver_notifications_via(true, &email_only).unwrap();
    assert!(report
        .errors
        .iter()
        .all(|(_, e)| e == "SMS is not configured (`sms` in the notification settings)"));
}
