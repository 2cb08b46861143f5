//! Seeded fleets: realistic tenancies, policy sets and event streams at a chosen size,
//! for benchmarks (and for anything else that wants a lot of valid data).
//!
//! Pure data: [`Fleet::generate`] builds a [`Bundle`] that compiles by construction, and
//! [`Fleet::events`] draws execution events against it with a chosen [`EventMix`]. The
//! same size and seed always give the same bundle and events.
//!
//! The shape, for `n` organizations of which `m` are MSPs (the rest are their
//! customers, spread evenly over them), with every total spread evenly over the
//! organizations:
//! - each organization has groups, computers (70% Windows, 20% Linux, 10% macOS; 1% in
//!   a maintenance mode), and applications of three kinds: *hash* applications of 20
//!   SHA-256 rules, *certificate* applications of two rules (by thumbprint, or by
//!   subject and issuer), and *path* applications of two patterns (literal, prefix
//!   `dir\*`, suffix `*\name`, a `*` in the middle, `%ProgramFiles%`, and one in ten a
//!   `regex:`), half for Windows and half for POSIX paths;
//! - every application is targeted by a permit policy: `global` for an MSP's
//!   applications (so they reach every customer), `organization` for a customer's, one
//!   in ten with `elevate`. The remaining policies are group- or computer-scoped, one in
//!   five a deny placed before the permits, some limited to users or a validity window.
//!
//! Event kinds ([`EventKind`]): a hash hit (a hash of one of the computer's
//! organization's applications), a certificate hit, a path hit (a path that one of the
//! organization's patterns matches, in the computer's path family), a miss (an unknown
//! hash, unsigned, in a download folder: the default deny decides), and an elevation
//! request (a hash hit that asks for elevation). Every event carries a parent process;
//! three in ten a creator.

mod rng;
mod stream;

pub use rng::SplitMix64;
pub use stream::{StreamFleet, StreamKind, StreamSize};

use std::ops::Range;

use crate::model::{
    Action, Application, Bundle, CertificateCondition, Computer, ComputerGroup, DistinguishedName,
    Event, FileRule, Maintenance, MaintenanceMode, Organization, Os, Policy, Scope, Sha256,
    Signature, SignatureStatus, Signer, Timestamp,
};

/// Rules per hash application.
const HASHES_PER_APP: usize = 20;
/// Rules per certificate or path application.
const RULES_PER_SMALL_APP: usize = 2;
/// The time events happen at: 2026-11-22T10:00:00Z.
pub const EVENT_TIME: i64 = 1_795_341_600;

/// How big a fleet is: totals over the whole tenancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSize {
    /// Top-level organizations (MSPs); at least 1.
    pub msps: usize,
    /// Organizations in all, MSPs included; at least `msps`.
    pub organizations: usize,
    /// Computer groups in all; at least one per organization.
    pub groups: usize,
    /// Computers in all; at least one per organization.
    pub computers: usize,
    /// Policies in all.
    pub policies: usize,
    /// File rules by SHA-256.
    pub hash_rules: usize,
    /// File rules by signing certificate.
    pub certificate_rules: usize,
    /// File rules by path pattern.
    pub path_patterns: usize,
}

/// The named sizes; each is ten times the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// 10 organizations, 1,000 computers, 10,000 hash rules.
    Small,
    /// 100 organizations, 10,000 computers, 100,000 hash rules.
    Medium,
    /// 1,000 organizations under 20 MSPs, 100,000 computers, 1,000,000 hash rules.
    Large,
    /// Ten times large.
    XLarge,
}

impl Preset {
    /// Every preset, smallest first.
    pub const ALL: [Preset; 4] = [Preset::Small, Preset::Medium, Preset::Large, Preset::XLarge];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Medium => "medium",
            Preset::Large => "large",
            Preset::XLarge => "xlarge",
        }
    }

    /// The preset of that name.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The totals.
    pub fn size(self) -> FleetSize {
        let (scale, msps) = match self {
            Preset::Small => (1, 2),
            Preset::Medium => (10, 5),
            Preset::Large => (100, 20),
            Preset::XLarge => (1000, 200),
        };
        FleetSize {
            msps,
            organizations: 10 * scale,
            groups: 100 * scale,
            computers: 1_000 * scale,
            policies: 1_000 * scale,
            hash_rules: 10_000 * scale,
            certificate_rules: 100 * scale,
            path_patterns: 100 * scale,
        }
    }
}

impl FleetSize {
    /// One organization with `patterns` path patterns and a little of everything else:
    /// the fleet for "a path hit over that many patterns".
    pub fn patterns_in_one_organization(patterns: usize) -> FleetSize {
        FleetSize {
            msps: 1,
            organizations: 1,
            groups: 10,
            computers: 100,
            policies: patterns / RULES_PER_SMALL_APP + 100,
            hash_rules: 1_000,
            certificate_rules: 10,
            path_patterns: patterns,
        }
    }

    /// The size raised to what the shape needs: one MSP, one group and one computer
    /// per organization.
    fn with_minimums(mut self) -> FleetSize {
        self.msps = self.msps.max(1);
        self.organizations = self.organizations.max(self.msps);
        self.groups = self.groups.max(self.organizations);
        self.computers = self.computers.max(self.organizations);
        self
    }

    /// Rules in all.
    pub fn rules(&self) -> usize {
        self.hash_rules + self.certificate_rules + self.path_patterns
    }
}

/// The kinds of execution events a fleet draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A hash one of the computer's organization's applications lists.
    HashHit,
    /// A valid signature whose leaf a certificate rule names.
    CertificateHit,
    /// A path one of the organization's patterns matches.
    PathHit,
    /// Nothing matches: the default deny decides.
    Miss,
    /// A hash hit that asks for elevation.
    Elevation,
}

impl EventKind {
    /// Every kind, in the order of [`EventMix`]'s fields.
    pub const ALL: [EventKind; 5] = [
        EventKind::HashHit,
        EventKind::CertificateHit,
        EventKind::PathHit,
        EventKind::Miss,
        EventKind::Elevation,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::HashHit => "hash-hit",
            EventKind::CertificateHit => "cert-hit",
            EventKind::PathHit => "path-hit",
            EventKind::Miss => "miss",
            EventKind::Elevation => "elevation",
        }
    }
}

/// Relative weights of the event kinds in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMix {
    /// Hash hits.
    pub hash: u32,
    /// Certificate hits.
    pub certificate: u32,
    /// Path hits.
    pub path: u32,
    /// Misses to the default deny.
    pub miss: u32,
    /// Elevation requests.
    pub elevation: u32,
}

impl EventMix {
    /// A day on a managed fleet: mostly known hashes, some signed software and paths,
    /// a few unknown files and elevation requests.
    pub const MIXED: EventMix = EventMix {
        hash: 60,
        certificate: 15,
        path: 10,
        miss: 10,
        elevation: 5,
    };

    /// Only events of one kind.
    pub fn only(kind: EventKind) -> EventMix {
        let mut mix = EventMix {
            hash: 0,
            certificate: 0,
            path: 0,
            miss: 0,
            elevation: 0,
        };
        *mix.weight_mut(kind) = 1;
        mix
    }

    fn weight_mut(&mut self, kind: EventKind) -> &mut u32 {
        match kind {
            EventKind::HashHit => &mut self.hash,
            EventKind::CertificateHit => &mut self.certificate,
            EventKind::PathHit => &mut self.path,
            EventKind::Miss => &mut self.miss,
            EventKind::Elevation => &mut self.elevation,
        }
    }

    fn weights(&self) -> [u32; 5] {
        [
            self.hash,
            self.certificate,
            self.path,
            self.miss,
            self.elevation,
        ]
    }

    /// Reads `hash=60,cert=15,path=10,miss=10,elevation=5` (kinds left out weigh 0).
    pub fn parse(text: &str) -> Result<EventMix, String> {
        let mut mix = EventMix::only(EventKind::HashHit);
        mix.hash = 0;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected `kind=weight`"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: the weight is not a whole number"))?;
            let kind = match name.trim() {
                "hash" | "hash-hit" => EventKind::HashHit,
                "cert" | "cert-hit" | "certificate" => EventKind::CertificateHit,
                "path" | "path-hit" => EventKind::PathHit,
                "miss" => EventKind::Miss,
                "elevation" => EventKind::Elevation,
                other => {
                    return Err(format!(
                        "`{other}`: unknown event kind (hash, cert, path, miss, elevation)"
                    ))
                }
            };
            *mix.weight_mut(kind) = weight;
        }
        if mix.weights().iter().all(|&w| w == 0) {
            return Err("every weight of the mix is 0".to_owned());
        }
        Ok(mix)
    }

    fn draw(&self, rng: &mut SplitMix64) -> EventKind {
        let weights = self.weights();
        let total: u32 = weights.iter().sum();
        let mut roll = rng.below(total.max(1) as usize) as u32;
        for (kind, weight) in EventKind::ALL.into_iter().zip(weights) {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        EventKind::Miss
    }
}

/// What the event drawer needs to know about one organization.
#[derive(Debug, Clone, Default)]
struct OrgFacts {
    computers: Range<usize>,
    hash_apps: Range<usize>,
    signers: Vec<Signer>,
    /// Paths its patterns match: Windows, then POSIX.
    paths: [Vec<String>; 2],
}

/// A generated tenancy and what it takes to draw events that hit it.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The bundle; it compiles.
    pub bundle: Bundle,
    /// The size it was generated at.
    pub size: FleetSize,
    /// The seed it was generated from.
    pub seed: u64,
    orgs: Vec<OrgFacts>,
}

/// `total` spread over `parts`: the share of part `i`.
fn share(total: usize, parts: usize, i: usize) -> usize {
    if parts == 0 {
        return 0;
    }
    total / parts + usize::from(i < total % parts)
}

fn org_id(o: usize) -> String {
    format!("org-{o:05}")
}

/// A name for pattern `j` of organization `o`: unique in the fleet.
fn vendor(o: usize, j: usize) -> String {
    format!("Vendor{o}x{j}")
}

/// Path pattern `j` of organization `o` and a path it matches (as an agent would
/// report it), and whether it is a Windows pattern.
fn path_pattern(o: usize, j: usize, rng: &mut SplitMix64) -> (String, String, bool) {
    let v = vendor(o, j);
    let lower = v.to_lowercase();
    let build = rng.below(900) + 100;
    let windows = j.is_multiple_of(2);
    // The kind cycles through ten with `j`, and starts at a different one in each
    // organization, so that every kind occurs even where an organization has fewer
    // than twenty patterns.
    let (pattern, example) = match ((o + j / 2) % 10, windows) {
        (0 | 8, true) => (
            format!(r"C:\Program Files\{v}\{v}.exe"),
            format!(r"c:\program files\{v}\{v}.EXE"),
        ),
        (1 | 2, true) => (
            format!(r"C:\Program Files\{v}\*"),
            format!(r"C:\Program Files\{v}\bin\tool{build}.exe"),
        ),
        (3, true) => (
            format!(r"*\{v}-setup.exe"),
            format!(r"C:\Users\Public\Downloads\{v}-setup.exe"),
        ),
        (4 | 5, true) => (
            format!(r"C:\Program Files\{v}\*\{v}.exe"),
            format!(r"C:\Program Files\{v}\{build}.0\{v}.exe"),
        ),
        (6 | 7, true) => (
            format!(r"%ProgramFiles%\{v}\updater.exe"),
            format!(r"C:/Program Files/{v}/updater.exe"),
        ),
        (_, true) => (
            format!(r"regex:^c:\\program files\\{lower}\\[0-9]+\\svc\.exe$"),
            format!(r"C:\Program Files\{v}\{build}\svc.exe"),
        ),
        (0 | 8, false) => (
            format!("/opt/{lower}/bin/{lower}"),
            format!("/opt/{lower}/bin/{lower}"),
        ),
        (1 | 2 | 6, false) => (
            format!("/opt/{lower}/*"),
            format!("/opt/{lower}/lib/helper{build}"),
        ),
        (3, false) => (
            format!("*/{lower}-installer.sh"),
            format!("/home/ci/Downloads/{lower}-installer.sh"),
        ),
        (4 | 5 | 7, false) => (
            format!("/opt/{lower}/*/bin/{lower}"),
            format!("/opt/{lower}/{build}/bin/{lower}"),
        ),
        (_, false) => (
            format!(r"regex:^/opt/{lower}/[0-9]+/svc$"),
            format!("/opt/{lower}/{build}/svc"),
        ),
    };
    (pattern, example, windows)
}

fn signer(o: usize, j: usize, rng: &mut SplitMix64) -> Option<(FileRule, Signer)> {
    let subject = DistinguishedName::parse(&format!(
        "CN=Publisher {o}-{j} Code Signing, O=Publisher {o}-{j} Inc, C=US"
    ))
    .ok()?;
    let issuer = DistinguishedName::parse(&format!("CN=Issuing CA {}, O=Trust Co", j % 7)).ok()?;
    let thumbprint = Sha256(rng.bytes32());
    let condition = if j.is_multiple_of(2) {
        CertificateCondition {
            thumbprint: Some(thumbprint),
            subject: None,
            issuer: None,
        }
    } else {
        // Only the name and organization: a later certificate of the same publisher
        // still matches.
        let short = DistinguishedName::parse(&format!(
            "CN=Publisher {o}-{j} Code Signing, O=Publisher {o}-{j} Inc"
        ))
        .ok()?;
        CertificateCondition {
            thumbprint: None,
            subject: Some(short),
            issuer: Some(issuer.clone()),
        }
    };
    let rule = FileRule::default().with_certificate(condition);
    let signer = Signer {
        subject,
        issuer: Some(issuer),
        thumbprint: Some(thumbprint),
    };
    Some((rule, signer))
}

impl Fleet {
    /// Generates a fleet of one of the named sizes.
    pub fn preset(preset: Preset, seed: u64) -> Fleet {
        Fleet::generate(preset.size(), seed)
    }

    /// Generates a fleet. Sizes too small for the shape are raised to the minimum: one
    /// MSP, one group and one computer per organization.
    pub fn generate(size: FleetSize, seed: u64) -> Fleet {
        Fleet::generate_with_progress(size, seed, &mut |_, _| {})
    }

    /// As [`Fleet::generate`], calling `progress(done, total)` as organizations are
    /// generated.
    pub fn generate_with_progress(
        size: FleetSize,
        seed: u64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Fleet {
        let size = size.with_minimums();
        let n = size.organizations;
        let mut root = SplitMix64::new(seed);
        let mut bundle = Bundle::new();
        let mut orgs = Vec::with_capacity(n);
        bundle.computers.reserve(size.computers);
        bundle.groups.reserve(size.groups);
        bundle.policies.reserve(size.policies);
        for o in 0..n {
            let writer = OrgWriter {
                bundle: &mut bundle,
                size,
                o,
                id: org_id(o),
                msp: o < size.msps,
                rng: root.fork(o as u64),
            };
            orgs.push(writer.write());
            if (o + 1) % (n / 100).max(1) == 0 || o + 1 == n {
                progress(o + 1, n);
            }
        }
        Fleet {
            bundle,
            size,
            seed,
            orgs,
        }
    }

    /// `count` events drawn with `mix`, from `seed`.
    pub fn events(&self, mix: &EventMix, count: usize, seed: u64) -> Vec<Event> {
        let mut rng = SplitMix64::new(seed ^ 0x5eed_e7e7);
        (0..count)
            .map(|_| {
                let kind = mix.draw(&mut rng);
                self.event(kind, &mut rng)
            })
            .collect()
    }

    /// One event of `kind` on a random computer. A kind the computer's organization
    /// cannot hit (no rule of that kind for its path family) falls back to a miss.
    pub fn event(&self, kind: EventKind, rng: &mut SplitMix64) -> Event {
        let o = rng.below(self.orgs.len());
        let facts = self.orgs.get(o).cloned().unwrap_or_default();
        let c = facts.computers.start + rng.below(facts.computers.len());
        let computer = self.bundle.computers.get(c);
        let (computer_id, os) =
            computer.map_or((String::new(), Os::Windows), |c| (c.id.clone(), c.os));
        let windows = os == Os::Windows;
        let user = format!("ORG{o}\\user{}", rng.below(500));
        let n = rng.below(1_000_000);
        let mut event = Event {
            computer: computer_id,
            user,
            path: if windows {
                format!(r"C:\Users\user\Downloads\dl-{n}.exe")
            } else {
                format!("/home/user/Downloads/dl-{n}")
            },
            sha256: Sha256(rng.bytes32()),
            signature: Signature::default(),
            size: None,
            authenticode_digest: None,
            parent: Some(if windows {
                r"C:\Windows\explorer.exe".to_owned()
            } else {
                "/usr/bin/bash".to_owned()
            }),
            created_by: rng.percent(30).then(|| {
                if windows {
                    r"C:\Program Files\Mozilla Firefox\firefox.exe".to_owned()
                } else {
                    "/usr/lib/firefox/firefox".to_owned()
                }
            }),
            elevation: false,
            time: Timestamp::from_unix(EVENT_TIME),
        };
        match kind {
            EventKind::HashHit | EventKind::Elevation => {
                let app = facts.hash_apps.start + rng.below(facts.hash_apps.len());
                let hash = self
                    .bundle
                    .applications
                    .get(app)
                    .filter(|_| !facts.hash_apps.is_empty())
                    .and_then(|app| rng.pick(&app.rules))
                    .and_then(|rule| rule.sha256);
                if let Some(hash) = hash {
                    event.sha256 = hash;
                    event.path = if windows {
                        format!(r"C:\Program Files\Apps\App{app}\bin\app{n}.exe")
                    } else {
                        format!("/usr/local/apps/app{app}/bin/app{n}")
                    };
                    event.elevation = kind == EventKind::Elevation;
                }
            }
            EventKind::CertificateHit => {
                if let Some(signer) = rng.pick(&facts.signers) {
                    event.signature = Signature {
                        status: SignatureStatus::Valid,
                        signers: vec![signer.clone()],
                    };
                    event.path = if windows {
                        format!(r"C:\Program Files\Signed\tool{n}.exe")
                    } else {
                        format!("/usr/local/signed/tool{n}")
                    };
                }
            }
            EventKind::PathHit => {
                let list = facts.paths.get(usize::from(!windows));
                if let Some(path) = list.and_then(|l| rng.pick(l)) {
                    event.path = path.clone();
                }
            }
            EventKind::Miss => {}
        }
        event
    }

    /// Index of the organization whose edits a redeploy benchmark makes: a customer in
    /// the middle of the fleet.
    pub fn sample_organization(&self) -> &str {
        let o = (self.size.msps + self.size.organizations) / 2;
        let o = o.min(self.size.organizations.saturating_sub(1));
        self.bundle
            .organizations
            .get(o)
            .map_or("", |org| org.id.as_str())
    }
}

/// Writes one organization of a fleet into the bundle, drawing from the organization's
/// own random stream: the organization, its groups and computers, its applications
/// (hash, certificate, path), then its policies.
struct OrgWriter<'b> {
    bundle: &'b mut Bundle,
    size: FleetSize,
    /// The organization's number.
    o: usize,
    id: String,
    msp: bool,
    rng: SplitMix64,
}

impl OrgWriter<'_> {
    /// Writes the organization; returns what the event drawer needs to know of it.
    fn write(mut self) -> OrgFacts {
        let mut facts = OrgFacts::default();
        self.organization();
        let (groups, computers) = self.groups_and_computers(&mut facts);
        let first_app = self.bundle.applications.len();
        self.hash_applications(&mut facts);
        self.certificate_applications(&mut facts);
        self.path_applications(&mut facts);
        let apps: Vec<String> = self
            .bundle
            .applications
            .get(first_app..)
            .unwrap_or_default()
            .iter()
            .map(|app| app.id.clone())
            .collect();
        self.policies(&apps, groups, computers);
        facts
    }

    /// `total` spread over the organizations: this one's share.
    fn share(&self, total: usize) -> usize {
        share(total, self.size.organizations, self.o)
    }

    fn organization(&mut self) {
        let o = self.o;
        self.bundle.organizations.push(Organization {
            id: self.id.clone(),
            name: if self.msp {
                format!("MSP {o}")
            } else {
                format!("Customer {o}")
            },
            parent: (!self.msp).then(|| org_id(o % self.size.msps)),
            default_deny: None,
        });
    }

    /// Returns the numbers of groups and computers.
    fn groups_and_computers(&mut self, facts: &mut OrgFacts) -> (usize, usize) {
        let (o, id) = (self.o, &self.id);
        let groups = self.share(self.size.groups).max(1);
        let computers = self.share(self.size.computers).max(1);
        for g in 0..groups {
            self.bundle.groups.push(ComputerGroup {
                id: format!("{id}-g{g}"),
                organization: id.clone(),
                name: format!("Group {g}"),
            });
        }
        let first_computer = self.bundle.computers.len();
        let rng = &mut self.rng;
        for c in 0..computers {
            let os = match rng.below(10) {
                0..=6 => Os::Windows,
                7 | 8 => Os::Linux,
                _ => Os::Macos,
            };
            let maintenance = rng.percent(1).then(|| Maintenance {
                mode: if rng.percent(50) {
                    MaintenanceMode::Monitor
                } else {
                    MaintenanceMode::Learning
                },
                until: Timestamp::from_unix(EVENT_TIME + 86_400),
            });
            let group = c % groups;
            self.bundle.computers.push(Computer {
                id: format!("{id}-c{c}"),
                group: format!("{id}-g{group}"),
                name: format!("HOST-{o}-{c}"),
                os,
                maintenance,
            });
        }
        facts.computers = first_computer..self.bundle.computers.len();
        (groups, computers)
    }

    /// Applications of up to [`HASHES_PER_APP`] SHA-256 rules.
    fn hash_applications(&mut self, facts: &mut OrgFacts) {
        let first_app = self.bundle.applications.len();
        let mut left = self.share(self.size.hash_rules);
        let mut a = 0;
        while left > 0 {
            let take = left.min(HASHES_PER_APP);
            left -= take;
            let rules = (0..take)
                .map(|_| FileRule {
                    sha256: Some(Sha256(self.rng.bytes32())),
                    ..FileRule::default()
                })
                .collect();
            self.bundle.applications.push(Application {
                id: format!("{}-hash{a}", self.id),
                organization: self.id.clone(),
                name: format!("Line-of-business app {a}"),
                rules,
            });
            a += 1;
        }
        facts.hash_apps = first_app..self.bundle.applications.len();
    }

    /// Applications of [`RULES_PER_SMALL_APP`] certificate rules.
    fn certificate_applications(&mut self, facts: &mut OrgFacts) {
        let certs = self.share(self.size.certificate_rules);
        for (a, start) in (0..certs).step_by(RULES_PER_SMALL_APP).enumerate() {
            let mut rules = Vec::new();
            for j in start..(start + RULES_PER_SMALL_APP).min(certs) {
                if let Some((rule, signer)) = signer(self.o, j, &mut self.rng) {
                    rules.push(rule);
                    facts.signers.push(signer);
                }
            }
            self.bundle.applications.push(Application {
                id: format!("{}-cert{a}", self.id),
                organization: self.id.clone(),
                name: format!("Signed software {a}"),
                rules,
            });
        }
    }

    /// Applications of [`RULES_PER_SMALL_APP`] path patterns.
    fn path_applications(&mut self, facts: &mut OrgFacts) {
        let patterns = self.share(self.size.path_patterns);
        for (a, start) in (0..patterns).step_by(RULES_PER_SMALL_APP).enumerate() {
            let mut rules = Vec::new();
            for j in start..(start + RULES_PER_SMALL_APP).min(patterns) {
                let (pattern, example, windows) = path_pattern(self.o, j, &mut self.rng);
                rules.push(FileRule::default().with_path(pattern));
                if let Some(list) = facts.paths.get_mut(usize::from(!windows)) {
                    list.push(example);
                }
            }
            self.bundle.applications.push(Application {
                id: format!("{}-path{a}", self.id),
                organization: self.id.clone(),
                name: format!("Installed tools {a}"),
                rules,
            });
        }
    }

    /// Permits covering every application, then scoped extras, within the
    /// organization's share of the policies.
    fn policies(&mut self, apps: &[String], groups: usize, computers: usize) {
        let budget = self.share(self.size.policies);
        let base = (budget * 6 / 10).clamp(1, apps.len().max(1)).min(budget);
        // Separate bands keep positions unique within the organization: an MSP's
        // below its customers', and in each, scoped denies, then the permits of
        // every application, then scoped permits.
        let band: i64 = if self.msp { 0 } else { 100_000_000 };
        self.permits(apps, base, band);
        self.scoped_policies(apps, budget.saturating_sub(base), band, (groups, computers));
    }

    /// `base` permits that together target every application: `global` for an MSP's,
    /// `organization` for a customer's.
    fn permits(&mut self, apps: &[String], base: usize, band: i64) {
        let id = &self.id;
        for p in 0..base {
            let targets: Vec<String> = apps.iter().skip(p).step_by(base).cloned().collect();
            if targets.is_empty() {
                continue;
            }
            self.bundle.policies.push(Policy {
                id: format!("{id}-allow{p}"),
                scope: if self.msp {
                    Scope::Global(id.clone())
                } else {
                    Scope::Organization(id.clone())
                },
                position: band + 20_000_000 + p as i64,
                applications: targets,
                action: Action::Permit,
                elevate: self.rng.percent(10),
                users: None,
                not_before: None,
                expires: None,
                enabled: true,
                on_deny: None,
            });
        }
    }

    /// `count` policies on one application each, scoped to one of the organization's
    /// `groups` groups or `computers` computers; one in five a deny placed before the
    /// permits, some limited to users or a validity window.
    fn scoped_policies(
        &mut self,
        apps: &[String],
        count: usize,
        band: i64,
        (groups, computers): (usize, usize),
    ) {
        let (o, id, rng) = (self.o, &self.id, &mut self.rng);
        for p in 0..count {
            let Some(app) = rng.pick(apps).cloned() else {
                break;
            };
            let scope = if rng.percent(70) {
                Scope::Group(format!("{id}-g{}", rng.below(groups)))
            } else {
                Scope::Computer(format!("{id}-c{}", rng.below(computers)))
            };
            let deny = rng.percent(20);
            let expires = rng
                .percent(10)
                .then(|| Timestamp::from_unix(EVENT_TIME - 86_400 + rng.below(3) as i64 * 86_400));
            self.bundle.policies.push(Policy {
                id: format!("{id}-extra{p}"),
                scope,
                position: band + if deny { 10_000_000 } else { 30_000_000 } + p as i64,
                applications: vec![app],
                action: if deny { Action::Deny } else { Action::Permit },
                elevate: !deny && rng.percent(30),
                users: rng
                    .percent(5)
                    .then(|| vec![format!("ORG{o}\\admin"), format!("ORG{o}\\helpdesk")]),
                not_before: None,
                expires,
                enabled: !rng.percent(2),
                on_deny: None,
            });
        }
    }
}

/// An edit confined to one organization: adds a hash rule (from `seed`) to its first
/// application. Returns false when the organization has no application.
pub fn edit_organization(bundle: &mut Bundle, organization: &str, seed: u64) -> bool {
    let mut rng = SplitMix64::new(seed);
    match bundle
        .applications
        .iter_mut()
        .find(|app| app.organization == organization)
    {
        Some(app) => {
            app.rules.push(FileRule {
                sha256: Some(Sha256(rng.bytes32())),
                ..FileRule::default()
            });
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
