//! The stream fleet: one MSP and its customers, with the lists an MSP keeps for all of
//! them (denied hashes, trusted publishers) and each customer's own permitted hashes
//! and path prefixes; and events of five kinds on random customers' computers, the
//! stream a server deciding for every customer sees.
//!
//! The shape, for the default [`StreamSize`]: 200 customers under one MSP, 500
//! permitted hashes per customer (25 applications of 20 SHA-256 rules, one
//! `organization` permit), 1,000 denied hashes and 1,000 trusted publishers (subject
//! and issuer) global to the MSP (a `global` deny first, then a `global` permit), and
//! 20 path prefixes (`C:\Program Files\Vendor…\*`) per customer (one `organization`
//! permit after the hashes'). Every computer runs Windows, none is in a maintenance
//! mode, and no policy is limited to users or a validity window: the shape that a
//! plain map per organization can also encode, for the baselines of `portcullis bench
//! --stream`.

use std::ops::Range;

use super::{org_id, SplitMix64, EVENT_TIME};
use crate::model::{
    Action, Application, Bundle, CertificateCondition, Computer, ComputerGroup, DistinguishedName,
    Event, FileRule, Organization, Os, Policy, Scope, Sha256, Signature, SignatureStatus, Signer,
    Timestamp,
};

/// Hash rules per application of a customer.
const HASHES_PER_APP: usize = 20;

/// How big a stream fleet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSize {
    /// Customers of the one MSP.
    pub customers: usize,
    /// Computers per customer (one group).
    pub computers_per_customer: usize,
    /// Permitted hashes per customer.
    pub hashes_per_customer: usize,
    /// Denied hashes, global to the MSP.
    pub denied_hashes: usize,
    /// Trusted publishers (subject and issuer), global to the MSP.
    pub publishers: usize,
    /// Path prefixes per customer.
    pub prefixes_per_customer: usize,
}

impl StreamSize {
    /// 200 customers, 500 hashes and 20 prefixes each, 1,000 denied hashes and 1,000
    /// trusted publishers.
    pub const DEFAULT: StreamSize = StreamSize {
        customers: 200,
        computers_per_customer: 10,
        hashes_per_customer: 500,
        denied_hashes: 1_000,
        publishers: 1_000,
        prefixes_per_customer: 20,
    };

    /// A small one, for tests.
    pub const SMALL: StreamSize = StreamSize {
        customers: 6,
        computers_per_customer: 3,
        hashes_per_customer: 45,
        denied_hashes: 30,
        publishers: 12,
        prefixes_per_customer: 5,
    };

    /// Rules in all.
    pub fn rules(&self) -> usize {
        self.customers * (self.hashes_per_customer + self.prefixes_per_customer)
            + self.denied_hashes
            + self.publishers
    }
}

/// The kinds of event of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// A hash the MSP denies.
    DenyHash,
    /// A hash the computer's organization permits.
    HashHit,
    /// A valid signature of a publisher the MSP trusts.
    CertHit,
    /// A path under one of the organization's prefixes.
    PathHit,
    /// Nothing matches: the default deny decides.
    Miss,
}

impl StreamKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [StreamKind; 5] = [
        StreamKind::DenyHash,
        StreamKind::HashHit,
        StreamKind::CertHit,
        StreamKind::PathHit,
        StreamKind::Miss,
    ];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::DenyHash => "deny-hash",
            StreamKind::HashHit => "hash-hit",
            StreamKind::CertHit => "cert-hit",
            StreamKind::PathHit => "path-hit",
            StreamKind::Miss => "miss",
        }
    }
}

/// What the event drawer knows of one customer.
#[derive(Debug, Clone)]
struct Customer {
    computers: Range<usize>,
    hash_apps: Range<usize>,
    /// The vendor directory of each prefix, as an agent reports paths under it.
    prefixes: Vec<String>,
}

/// A generated stream fleet and what it takes to draw events that hit it.
#[derive(Debug, Clone)]
pub struct StreamFleet {
    /// The bundle; it compiles.
    pub bundle: Bundle,
    /// The size it was generated at.
    pub size: StreamSize,
    denied: Vec<Sha256>,
    publishers: Vec<Signer>,
    customers: Vec<Customer>,
}

fn publisher(j: usize) -> Option<(CertificateCondition, Signer)> {
    let subject = DistinguishedName::parse(&format!(
        "CN=Publisher {j} Code Signing, O=Publisher {j} Inc"
    ))
    .ok()?;
    let issuer = DistinguishedName::parse(&format!("CN=Issuing CA {}, O=Trust Co", j % 7)).ok()?;
    let condition = CertificateCondition {
        thumbprint: None,
        subject: Some(subject.clone()),
        issuer: Some(issuer.clone()),
    };
    let signer = Signer {
        subject,
        issuer: Some(issuer),
        thumbprint: None,
    };
    Some((condition, signer))
}

fn permit(id: String, scope: Scope, position: i64, applications: Vec<String>) -> Policy {
    Policy {
        id,
        scope,
        position,
        applications,
        action: Action::Permit,
        elevate: false,
        users: None,
        not_before: None,
        expires: None,
        enabled: true,
        on_deny: None,
    }
}

impl StreamFleet {
    /// Generates a stream fleet from `seed`; the same size and seed give the same
    /// fleet.
    pub fn generate(size: StreamSize, seed: u64) -> StreamFleet {
        let mut rng = SplitMix64::new(seed ^ 0x057e_4a11);
        let mut bundle = Bundle::new();
        let msp = org_id(0);
        bundle.organizations.push(Organization {
            id: msp.clone(),
            name: "MSP 0".to_owned(),
            parent: None,
            default_deny: None,
        });
        let denied: Vec<Sha256> = (0..size.denied_hashes)
            .map(|_| Sha256(rng.bytes32()))
            .collect();
        let (conditions, publishers): (Vec<_>, Vec<_>) =
            (0..size.publishers).filter_map(publisher).unzip();
        let denied_app = format!("{msp}-denied");
        let publishers_app = format!("{msp}-publishers");
        bundle.applications.push(Application {
            id: denied_app.clone(),
            organization: msp.clone(),
            name: "Known bad".to_owned(),
            rules: denied.iter().map(|h| FileRule::hash(*h)).collect(),
        });
        bundle.applications.push(Application {
            id: publishers_app.clone(),
            organization: msp.clone(),
            name: "Trusted publishers".to_owned(),
            rules: conditions
                .into_iter()
                .map(|c| FileRule::default().with_certificate(c))
                .collect(),
        });
        let mut deny = permit(
            format!("{msp}-deny-known-bad"),
            Scope::Global(msp.clone()),
            0,
            vec![denied_app],
        );
        deny.action = Action::Deny;
        bundle.policies.push(deny);
        bundle.policies.push(permit(
            format!("{msp}-allow-publishers"),
            Scope::Global(msp.clone()),
            10,
            vec![publishers_app],
        ));
        let customers = (1..=size.customers)
            .map(|o| customer(&mut bundle, &size, o, &msp, &mut rng.fork(o as u64)))
            .collect();
        StreamFleet {
            bundle,
            size,
            denied,
            publishers,
            customers,
        }
    }

    /// `count` events of `kind` on computers of random customers, from `seed`.
    pub fn events(&self, kind: StreamKind, count: usize, seed: u64) -> Vec<Event> {
        let salt = StreamKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u64;
        let mut rng = SplitMix64::new(seed ^ 0x5eed_5e7e).fork(salt);
        (0..count)
            .filter_map(|_| self.event(kind, &mut rng))
            .collect()
    }

    /// One event of `kind`; none when the fleet has no customer.
    fn event(&self, kind: StreamKind, rng: &mut SplitMix64) -> Option<Event> {
        let customer = rng.pick(&self.customers)?;
        let c = customer.computers.start + rng.below(customer.computers.len());
        let n = rng.below(1_000_000);
        let mut event = Event {
            computer: self
                .bundle
                .computers
                .get(c)
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            user: format!("CUSTOMER\\user{}", rng.below(500)),
            path: format!(r"C:\Users\user\Downloads\dl-{n}.exe"),
            sha256: Sha256(rng.bytes32()),
            signature: Signature::default(),
            size: None,
            authenticode_digest: None,
            parent: Some(r"C:\Windows\explorer.exe".to_owned()),
            created_by: None,
            elevation: false,
            time: Timestamp::from_unix(EVENT_TIME),
        };
        match kind {
            StreamKind::DenyHash => {
                if let Some(hash) = rng.pick(&self.denied) {
                    event.sha256 = *hash;
                    event.path = format!(r"C:\Users\user\Downloads\tool{n}.exe");
                }
            }
            StreamKind::HashHit => {
                let app = customer.hash_apps.start + rng.below(customer.hash_apps.len());
                let hash = self
                    .bundle
                    .applications
                    .get(app)
                    .and_then(|a| rng.pick(&a.rules))
                    .and_then(|r| r.sha256);
                if let Some(hash) = hash {
                    event.sha256 = hash;
                    event.path = format!(r"C:\Program Files\Apps\App{app}\app{n}.exe");
                }
            }
            StreamKind::CertHit => {
                if let Some(signer) = rng.pick(&self.publishers) {
                    event.signature = Signature {
                        status: SignatureStatus::Valid,
                        signers: vec![signer.clone()],
                    };
                    event.path = format!(r"C:\Program Files\Signed\tool{n}.exe");
                }
            }
            StreamKind::PathHit => {
                if let Some(dir) = rng.pick(&customer.prefixes) {
                    event.path = format!(r"{dir}\bin\tool{n}.exe");
                }
            }
            StreamKind::Miss => {}
        }
        Some(event)
    }
}

/// Writes customer `o` (its organization, group, computers, applications and two
/// permits) into the bundle.
fn customer(
    bundle: &mut Bundle,
    size: &StreamSize,
    o: usize,
    msp: &str,
    rng: &mut SplitMix64,
) -> Customer {
    let id = org_id(o);
    bundle.organizations.push(Organization {
        id: id.clone(),
        name: format!("Customer {o}"),
        parent: Some(msp.to_owned()),
        default_deny: None,
    });
    let group = format!("{id}-g0");
    bundle.groups.push(ComputerGroup {
        id: group.clone(),
        organization: id.clone(),
        name: "Workstations".to_owned(),
    });
    let first_computer = bundle.computers.len();
    for c in 0..size.computers_per_customer.max(1) {
        bundle.computers.push(Computer {
            id: format!("{id}-c{c}"),
            group: group.clone(),
            name: format!("HOST-{o}-{c}"),
            os: Os::Windows,
            maintenance: None,
        });
    }
    let first_app = bundle.applications.len();
    let mut left = size.hashes_per_customer;
    let mut apps = Vec::new();
    while left > 0 {
        let take = left.min(HASHES_PER_APP);
        left -= take;
        let app = format!("{id}-hash{}", apps.len());
        bundle.applications.push(Application {
            id: app.clone(),
            organization: id.clone(),
            name: format!("Line-of-business app {}", apps.len()),
            rules: (0..take)
                .map(|_| FileRule::hash(Sha256(rng.bytes32())))
                .collect(),
        });
        apps.push(app);
    }
    let hash_apps = first_app..bundle.applications.len();
    if !apps.is_empty() {
        bundle.policies.push(permit(
            format!("{id}-allow-apps"),
            Scope::Organization(id.clone()),
            100,
            apps,
        ));
    }
    let prefixes: Vec<String> = (0..size.prefixes_per_customer)
        .map(|j| format!(r"C:\Program Files\Vendor{o}x{j}"))
        .collect();
    if !prefixes.is_empty() {
        let tools = format!("{id}-tools");
        bundle.applications.push(Application {
            id: tools.clone(),
            organization: id.clone(),
            name: "Installed tools".to_owned(),
            rules: prefixes
                .iter()
                .map(|dir| FileRule::default().with_path(format!(r"{dir}\*")))
                .collect(),
        });
        bundle.policies.push(permit(
            format!("{id}-allow-tools"),
            Scope::Organization(id.clone()),
            200,
            vec![tools],
        ));
    }
    Customer {
        computers: first_computer..first_computer + size.computers_per_customer.max(1),
        hash_apps,
        prefixes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{reference, Engine};

    #[test]
    fn every_kind_decides_as_named_and_as_the_reference_does() {
        let fleet = StreamFleet::generate(StreamSize::SMALL, 7);
        let engine = Engine::new(&fleet.bundle).unwrap();
        let snapshot = engine.current();
        for kind in StreamKind::ALL {
            for event in fleet.events(kind, 50, 3) {
                let decision = snapshot.decide(&event);
                let record = reference::decide(&fleet.bundle, &event);
                assert_eq!(decision.policy, record.policy.as_deref(), "{kind:?}");
                let expected = match kind {
                    StreamKind::DenyHash => Some("-deny-known-bad"),
                    StreamKind::HashHit => Some("-allow-apps"),
                    StreamKind::CertHit => Some("-allow-publishers"),
                    StreamKind::PathHit => Some("-allow-tools"),
                    StreamKind::Miss => None,
                };
                match expected {
                    Some(suffix) => assert!(
                        decision.policy.is_some_and(|p| p.ends_with(suffix)),
                        "{kind:?}: {:?}",
                        decision.policy
                    ),
                    None => assert_eq!(decision.policy, None),
                }
                assert_eq!(
                    decision.is_allowed(),
                    matches!(
                        kind,
                        StreamKind::HashHit | StreamKind::CertHit | StreamKind::PathHit
                    )
                );
            }
        }
    }

    #[test]
    fn the_default_size_has_the_stated_rules() {
        assert_eq!(StreamSize::DEFAULT.rules(), 200 * 520 + 2_000);
    }
}
