//! Baselines that `portcullis bench --stream` decides beside the engine, on the same
//! events, in the same run: [`plain::PlainMap`], the simplest in-process encoding of a
//! bundle scoped to organizations, and [`cedar::CedarBaseline`], the bundle as a Cedar
//! entity hierarchy and policies.
//!
//! Cedar is a heavy dependency that only the benchmark needs: it lives in this crate,
//! which the command line links and nothing an agent links depends on.

#[cfg(feature = "cedar")]
pub mod cedar;
pub mod plain;

/// A baseline's answer to an event, to compare with the engine's: the policy that
/// decides it (none for the default deny) and whether it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'a> {
    /// The deciding policy's id.
    pub policy: Option<&'a str>,
    /// Whether the execution is allowed.
    pub allow: bool,
}

impl Verdict<'_> {
    /// No policy decides: the default deny.
    pub const DEFAULT_DENY: Verdict<'static> = Verdict {
        policy: None,
        allow: false,
    };
}

#[cfg(test)]
mod tests {
    use portcullis_engine::fleet::{StreamFleet, StreamKind, StreamSize};
    use portcullis_engine::Engine;

    #[cfg(feature = "cedar")]
    use super::cedar::CedarBaseline;
    use super::plain::PlainMap;

    /// Every baseline answers the question the engine answers: the same deciding
    /// policy and the same outcome, on every kind of event of a small stream fleet.
    #[test]
    fn baselines_decide_as_the_engine_on_a_small_stream_fleet() {
        let fleet = StreamFleet::generate(StreamSize::SMALL, 5);
        let engine = Engine::new(&fleet.bundle).unwrap();
        let snapshot = engine.current();
        let plain = PlainMap::new(&fleet.bundle).unwrap();
        #[cfg(feature = "cedar")]
        let cedar = CedarBaseline::new(&fleet.bundle).unwrap();
        for kind in StreamKind::ALL {
            for event in fleet.events(kind, 40, 9) {
                let decision = snapshot.decide(&event);
                let expected = (decision.policy, decision.is_allowed());
                let p = plain.decide(&event);
                assert_eq!((p.policy, p.allow), expected, "plain map, {kind:?}");
                #[cfg(feature = "cedar")]
                {
                    let c = cedar.decide(&cedar.request(&event).unwrap());
                    assert_eq!((c.policy, c.allow), expected, "cedar, {kind:?}");
                }
            }
        }
    }

    #[test]
    fn what_they_cannot_encode_is_refused() {
        let mut fleet = StreamFleet::generate(StreamSize::SMALL, 5);
        // A permit before the deny: neither the plain map's order nor Cedar's
        // forbid-overrides is the engine's first match any more.
        if let Some(p) = fleet
            .bundle
            .policies
            .iter_mut()
            .find(|p| p.id.ends_with("-allow-apps"))
        {
            p.position = -5;
        }
        assert!(PlainMap::new(&fleet.bundle).is_err());
        #[cfg(feature = "cedar")]
        assert!(CedarBaseline::new(&fleet.bundle).is_err());
    }
}
