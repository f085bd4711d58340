//! A compiled, versioned rule set and its evaluation against one message: first matching rule
//! wins; `after` counts per connection, `times` per rule set, `sometimes` draws from the
//! connection's seeded generator. Also answers "could any rule care about this tag?" so the
//! forwarding loop can skip evaluation entirely.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use pgkeel_wire::{Direction, FrameRef, MessageType};

use super::action::Action;
use super::compile::{Rule, Step};
use super::fields;

static KILL: Action = Action::Kill;

/// One message as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    /// The frame.
    pub frame: FrameRef<'a>,
    /// Its type (client 'p' refined from the auth exchange).
    pub ty: MessageType,
    /// True for the connection's first packet.
    pub initial: bool,
}

/// Per-connection rule state: `after` counters and the random generator for `sometimes`.
#[derive(Debug, Clone)]
pub struct ConnRuleState {
    version: u64,
    after: Vec<u64>,
    rng: SplitMix64,
}

impl ConnRuleState {
    /// State for connection number `conn` under proxy seed `seed` (same seed and connection
    /// number, same random choices).
    pub fn new(seed: u64, conn: u64) -> Self {
        ConnRuleState {
            version: u64::MAX,
            after: Vec::new(),
            rng: SplitMix64(seed ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }

    /// A random fraction in [0, 1), for delay jitter.
    pub fn random_fraction(&mut self) -> f64 {
        self.rng.next_f64()
    }
}

#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The rule that matched and its action.
#[derive(Debug, Clone, Copy)]
pub struct Fired<'r> {
    /// Index of the rule in its set.
    pub rule: usize,
    /// What to do.
    pub action: &'r Action,
}

#[derive(Debug, Clone, Copy, Default)]
struct Interest {
    all: bool,
    tags: [u64; 4],
}

impl Interest {
    fn add(&mut self, tag: u8) {
        self.tags[usize::from(tag >> 6)] |= 1 << (tag & 63);
    }

    fn has(&self, tag: u8) -> bool {
        self.all || self.tags[usize::from(tag >> 6)] & (1 << (tag & 63)) != 0
    }
}

/// Rules in force, with their counters. Replaced as a whole when new rules are set.
#[derive(Debug)]
pub struct RuleSet {
    version: u64,
    source: String,
    rules: Vec<Rule>,
    fired: Vec<AtomicU64>,
    used: Vec<AtomicU64>,
    killall: AtomicBool,
    killall_rule: AtomicUsize,
    after_slots: usize,
    passive: bool,
    interest: [Interest; 2],
}

impl RuleSet {
    /// Wraps compiled rules as version `version`.
    pub fn new(version: u64, source: &str, rules: Vec<Rule>) -> Self {
        let after_slots = rules
            .iter()
            .flat_map(|r| &r.steps)
            .filter_map(|s| match s {
                Step::After { slot, .. } => Some(slot + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let passive = rules.iter().all(|r| matches!(r.action, Action::Allow))
            && rules
                .first()
                .is_none_or(|r| r.steps.is_empty() && r.times.is_none() && r.probability.is_none());
        let mut interest = [Interest::default(); 2];
        if !passive {
            for rule in &rules {
                add_interest(rule, &mut interest);
            }
        }
        RuleSet {
            version,
            source: source.to_owned(),
            fired: rules.iter().map(|_| AtomicU64::new(0)).collect(),
            used: rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rules,
            killall: AtomicBool::new(false),
            killall_rule: AtomicUsize::new(0),
            after_slots,
            passive,
            interest,
        }
    }

    /// No rules: everything is forwarded.
    pub fn empty() -> Self {
        Self::new(0, "", Vec::new())
    }

    /// The version (0 for the initial empty set, then 1, 2, ... per change).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The rule string as set.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How often each rule has fired.
    pub fn fired_counts(&self) -> Vec<u64> {
        self.fired
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// True when no rule can change anything (empty, or only `conn.allow()`).
    pub fn is_passive(&self) -> bool {
        self.passive
    }

    /// True once `killall()` has fired: every message of every connection is killed.
    pub fn is_killing_all(&self) -> bool {
        self.killall.load(Ordering::Relaxed)
    }

    /// Whether any rule could match a tagged message `tag` sent in `direction`. When false the
    /// message is forwarded without evaluation.
    pub fn interested(&self, direction: Direction, tag: u8) -> bool {
        if self.passive {
            return false;
        }
        self.is_killing_all() || self.interest[dir_index(direction)].has(tag)
    }

    /// The first rule matching `msg`, if any.
    pub fn evaluate<'r>(
        &'r self,
        msg: &MessageView<'_>,
        startup: &[(Vec<u8>, Vec<u8>)],
        state: &mut ConnRuleState,
    ) -> Option<Fired<'r>> {
        if self.passive {
            return None;
        }
        if self.killall.load(Ordering::Relaxed) {
            return Some(Fired {
                rule: self.killall_rule.load(Ordering::Relaxed),
                action: &KILL,
            });
        }
        if state.version != self.version {
            state.version = self.version;
            state.after.clear();
            state.after.resize(self.after_slots, 0);
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if matches!(rule.action, Action::ConnectDelay(_)) && !msg.initial {
                continue;
            }
            if !rule
                .steps
                .iter()
                .all(|step| step_matches(step, msg, startup, &mut state.after))
            {
                continue;
            }
            if let Some(p) = rule.probability
                && state.rng.next_f64() >= p
            {
                continue;
            }
            if let Some(limit) = rule.times
                && self.used[index].fetch_add(1, Ordering::Relaxed) >= limit
            {
                continue;
            }
            self.fired[index].fetch_add(1, Ordering::Relaxed);
            if matches!(rule.action, Action::KillAll) {
                self.killall_rule.store(index, Ordering::Relaxed);
                self.killall.store(true, Ordering::Relaxed);
            }
            return Some(Fired {
                rule: index,
                action: &rule.action,
            });
        }
        None
    }
}

fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::Frontend => 0,
        Direction::Backend => 1,
    }
}

fn add_interest(rule: &Rule, interest: &mut [Interest; 2]) {
    let from = rule.steps.iter().find_map(|s| match s {
        Step::From(d) => Some(*d),
        _ => None,
    });
    let directions: Vec<Direction> = match from {
        Some(d) => vec![d],
        None => vec![Direction::Frontend, Direction::Backend],
    };
    let types = rule.steps.iter().find_map(|s| match s {
        Step::On { types, .. } => Some(*types),
        _ => None,
    });
    match types {
        None => {
            for d in directions {
                interest[dir_index(d)].all = true;
            }
        }
        Some(types) => {
            for ty in types.iter() {
                let Some(tag) = ty.tag() else { continue };
                for d in ty.senders() {
                    if directions.contains(d) {
                        interest[dir_index(*d)].add(tag);
                    }
                }
            }
        }
    }
}

fn step_matches(
    step: &Step,
    msg: &MessageView<'_>,
    startup: &[(Vec<u8>, Vec<u8>)],
    after: &mut [u64],
) -> bool {
    match step {
        Step::On { types, fields } => {
            types.contains(msg.ty)
                && fields.iter().all(|(field, re)| {
                    fields::read(field, &msg.frame).is_some_and(|value| re.is_match(&value))
                })
        }
        Step::Matches(re) => re.is_match(msg.frame.bytes()),
        Step::Contains(needle) => memchr::memmem::find(msg.frame.bytes(), needle).is_some(),
        Step::After { n, slot } => match after.get_mut(*slot) {
            Some(count) if *count >= *n => true,
            Some(count) => {
                *count += 1;
                false
            }
            None => false,
        },
        Step::Where(params) => params.iter().all(|(name, re)| {
            startup
                .iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .is_some_and(|(_, v)| re.is_match(v))
        }),
        Step::From(direction) => msg.frame.direction() == *direction,
    }
}

#[cfg(test)]
mod tests {
    use pgkeel_wire::{FrameKind, encode};

    use super::super::compile::compile;
    use super::*;

    fn set(text: &str) -> RuleSet {
        RuleSet::new(1, text, compile(text).unwrap())
    }

    fn query(bytes: &[u8]) -> MessageView<'_> {
        MessageView {
            frame: FrameRef::new(Direction::Frontend, FrameKind::Tagged(b'Q'), bytes),
            ty: MessageType::Query,
            initial: false,
        }
    }

    #[test]
    fn first_match_wins_and_after_counts_per_connection() {
        let rules = set(r#"conn.onQuery(query="^COMMIT").after(2).kill(); conn.onQuery().drop()"#);
        let commit = encode::query("COMMIT").unwrap();
        let mut a = ConnRuleState::new(7, 0);
        let mut b = ConnRuleState::new(7, 1);
        let fired: Vec<usize> = (0..3)
            .map(|_| rules.evaluate(&query(&commit), &[], &mut a).unwrap().rule)
            .collect();
        assert_eq!(fired, vec![1, 1, 0]);
        assert_eq!(
            rules.evaluate(&query(&commit), &[], &mut b).unwrap().rule,
            1
        );
        assert_eq!(rules.fired_counts(), vec![1, 3]);
    }

    #[test]
    fn times_is_global_and_killall_sticks() {
        let rules = set("conn.onQuery().times(2).drop(); conn.onQuery().killall()");
        let q = encode::query("SELECT 1").unwrap();
        let mut s = ConnRuleState::new(0, 0);
        let got: Vec<&str> = (0..4)
            .map(|_| {
                rules
                    .evaluate(&query(&q), &[], &mut s)
                    .unwrap()
                    .action
                    .name()
            })
            .collect();
        assert_eq!(got, vec!["drop", "drop", "killall", "kill"]);
        assert!(
            rules.interested(Direction::Backend, b'Z'),
            "killall concerns every message"
        );
    }

    #[test]
    fn sometimes_is_reproducible_per_seed_and_connection() {
        let rules = set("conn.onQuery().sometimes(0.5).drop()");
        let q = encode::query("x").unwrap();
        let run = |seed, conn| {
            let mut s = ConnRuleState::new(seed, conn);
            (0..64)
                .map(|_| rules.evaluate(&query(&q), &[], &mut s).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1, 3), run(1, 3));
        assert_ne!(run(1, 3), run(2, 3));
        let hits = run(1, 3).into_iter().filter(|h| *h).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }

    #[test]
    fn interest_mask_follows_message_types_and_direction() {
        let rules = set(r#"conn.onCommandComplete(command="^COMMIT").kill()"#);
        assert!(rules.interested(Direction::Backend, b'C'));
        assert!(!rules.interested(Direction::Frontend, b'C'));
        assert!(!rules.interested(Direction::Backend, b'D'));
        assert!(set("conn.allow()").is_passive());
        assert!(!set("conn.onQuery().allow(); conn.kill()").is_passive());
        assert!(set("conn.fromClient().kill()").interested(Direction::Frontend, b'X'));
        assert!(!set("conn.fromClient().kill()").interested(Direction::Backend, b'Z'));
    }

    #[test]
    fn where_scopes_by_startup_parameters() {
        let rules = set(r#"conn.where(application_name="^worker$").onQuery().kill()"#);
        let q = encode::query("x").unwrap();
        let mut s = ConnRuleState::new(0, 0);
        let worker = vec![(b"application_name".to_vec(), b"worker".to_vec())];
        let other = vec![(b"application_name".to_vec(), b"psql".to_vec())];
        assert!(rules.evaluate(&query(&q), &worker, &mut s).is_some());
        assert!(rules.evaluate(&query(&q), &other, &mut s).is_none());
        assert!(rules.evaluate(&query(&q), &[], &mut s).is_none());
    }
}
