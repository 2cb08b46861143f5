//! What `gen` and `bench` are asked for: the options, each defined once, and the
//! value enums of `--size` and `--scenario`.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, ValueEnum};
use portcullis_engine::fleet::{EventKind, EventMix, Preset};

/// The fleet to generate: its size and seed.
#[derive(Args, Debug, Clone, Copy)]
pub struct FleetArgs {
    /// small, medium, large (1,000 organizations, 1,000,000 hash rules) or xlarge.
    #[arg(long, default_value = "large", value_parser = Named::<Size>::new("size"))]
    pub size: Size,
    /// The same seed gives the same fleet (and events).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What `gen` is asked for.
#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// How many events to write.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Weights of the event kinds: hash, cert, path, miss, elevation.
    #[arg(long, default_value = "hash=60,cert=15,path=10,miss=10,elevation=5", value_parser = EventMix::parse)]
    pub mix: EventMix,
    /// Directory to write `bundle.json` and `events.jsonl` to.
    #[arg(long, default_value = "fleet")]
    pub out: PathBuf,
}

/// What `bench` is asked for.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// hash-hit, cert-hit, path-hit, miss, elevation or mixed.
    #[arg(long, default_value = "mixed", value_parser = Named::<Scenario>::new("scenario"))]
    pub scenario: Scenario,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// A bundle to measure instead of a generated one (with `--events`).
    #[arg(long, requires = "events")]
    pub bundle: Option<PathBuf>,
    /// Events (JSONL) to decide, with `--bundle`.
    #[arg(long, requires = "bundle")]
    pub events: Option<PathBuf>,
    /// How many events to generate.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// Seconds to spend on each throughput figure.
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Seconds to spend on each baseline.
    #[arg(long, default_value_t = 5.0)]
    pub baseline_seconds: f64,
    /// Skip the Rego baseline.
    #[arg(long)]
    pub no_rego: bool,
    /// Decide the Rego baseline on regorus's interpreter instead of its virtual
    /// machine.
    #[arg(long)]
    pub rego_interpreter: bool,
    /// Skip the reference evaluator.
    #[arg(long)]
    pub no_reference: bool,
    /// Skip reader latency under deploys.
    #[arg(long)]
    pub no_deploy_load: bool,
    /// Decisions of the same event timed together for each warm latency sample,
    /// after its first (cold) one.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Measure the stream fleet instead (one MSP, 200 customers): each kind of event
    /// (deny-hash, hash-hit, cert-hit, path-hit, miss) decided as one batch by the
    /// engine, the plain map, Rego and Cedar in the same run. `--size`, `--scenario`
    /// and `--count` do not apply.
    #[arg(long, conflicts_with_all = ["bundle", "events"])]
    pub stream: bool,
    /// With `--stream`: customers of the MSP.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_customers: u64,
    /// With `--stream`: events of each kind.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_events: u64,
    /// With `--stream`: passes over each kind's events by the engine and the plain map
    /// (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// With `--stream`: skip the Cedar baseline.
    #[arg(long)]
    pub no_cedar: bool,
}

/// Fleet sizes. The variants have plain comments, not doc comments, so that clap lists
/// their names on one line in the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Size {
    // 10 organizations, 10,000 hash rules.
    Small,
    // 100 organizations, 100,000 hash rules.
    Medium,
    // 1,000 organizations, 1,000,000 hash rules.
    Large,
    // The largest preset.
    Xlarge,
}

impl From<Size> for Preset {
    fn from(size: Size) -> Preset {
        match size {
            Size::Small => Preset::Small,
            Size::Medium => Preset::Medium,
            Size::Large => Preset::Large,
            Size::Xlarge => Preset::XLarge,
        }
    }
}

/// The events a generated bench decides (plain comments on the variants, as for
/// [`Size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    // Hashes an application lists.
    HashHit,
    // Signers a certificate rule names.
    CertHit,
    // Paths a pattern matches.
    PathHit,
    // Nothing matches.
    Miss,
    // Hash hits that ask for elevation.
    Elevation,
    // The default mix of all of them.
    Mixed,
}

impl Scenario {
    /// The events of the scenario.
    pub fn mix(self) -> EventMix {
        match self {
            Scenario::HashHit => EventMix::only(EventKind::HashHit),
            Scenario::CertHit => EventMix::only(EventKind::CertificateHit),
            Scenario::PathHit => EventMix::only(EventKind::PathHit),
            Scenario::Miss => EventMix::only(EventKind::Miss),
            Scenario::Elevation => EventMix::only(EventKind::Elevation),
            Scenario::Mixed => EventMix::MIXED,
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// A value enum parsed by clap that refuses an unknown value in the words the command
/// line has always used: ``unknown size `huge` (small, medium, large, xlarge)``.
#[derive(Clone, Debug)]
struct Named<E> {
    what: &'static str,
    values: PhantomData<E>,
}

impl<E> Named<E> {
    fn new(what: &'static str) -> Named<E> {
        Named {
            what,
            values: PhantomData,
        }
    }
}

impl<E: ValueEnum + Clone + Send + Sync + 'static> TypedValueParser for Named<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        let text = value.to_string_lossy();
        E::from_str(&text, false).map_err(|_| {
            let names: Vec<String> = E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value)
                .map(|v| v.get_name().to_owned())
                .collect();
            let message = format!("unknown {} `{text}` ({})\n", self.what, names.join(", "));
            clap::Error::raw(ErrorKind::InvalidValue, message).with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_have_mixes_and_their_command_line_names() {
        for name in [
            "hash-hit",
            "cert-hit",
            "path-hit",
            "miss",
            "elevation",
            "mixed",
        ] {
            let scenario = Scenario::from_str(name, false).unwrap();
            assert_eq!(scenario.name(), name);
            let kind = EventKind::ALL.into_iter().find(|k| k.name() == name);
            match kind {
                Some(kind) => assert_eq!(scenario.mix(), EventMix::only(kind)),
                None => assert_eq!(scenario.mix(), EventMix::MIXED),
            }
        }
        assert!(Scenario::from_str("bogus", false).is_err());
        for size in Size::value_variants() {
            let name = size.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Preset::from(*size).name(), name);
        }
    }
}
