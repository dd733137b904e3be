//! The rotation state machine, pure: from the stored keys and the clock, the
//! transitions due now. Applying the plan is idempotent (a plan made from the state it
//! produced is empty), so replicas that run it under one lock change the state once.
//!
//! ```text
//!   next ──(activates_at reached)──▶ active ──(a newer key activates)──▶ retired ──(expires_at)──▶ deleted
//! ```
//! A `next` key is published from its creation, `key_prepublish` before it signs.

use crate::db::models::KeyState;

/// What the plan needs to know of a stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Stored state.
    pub state: KeyState,
    /// Its JWS algorithm.
    pub alg: String,
    /// When it starts (started) signing.
    pub activates_at: i64,
    /// When it leaves the JWKS (retired keys).
    pub expires_at: Option<i64>,
}

/// Timing of the lifecycle (seconds) and the algorithm new keys use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// A key signs for this long before the next one takes over.
    pub period: i64,
    /// A new key is published this long before it signs.
    pub prepublish: i64,
    /// A retired key stays published this long (tokens it signed must outlive it).
    pub retention: i64,
    /// The configured signing algorithm: switching it is a rotation, never a break.
    pub alg: String,
}

/// One transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a key: `next` activating at `activates_at`, or `active` now.
    Create {
        /// Initial state.
        state: KeyState,
        /// When it signs.
        activates_at: i64,
    },
    /// A `next` key whose time came starts signing.
    Promote {
        /// Key id.
        kid: String,
    },
    /// An `active` key superseded by a newer one stops signing.
    Retire {
        /// Key id.
        kid: String,
        /// When it leaves the JWKS.
        expires_at: i64,
    },
    /// A retired key whose publication ended is removed.
    Delete {
        /// Key id.
        kid: String,
    },
}

/// The keys that sign or are due to at `now` (the active ones and the pending ones
/// whose time came), oldest first: the last one signs, the others retire.
fn signers(keys: &[KeyInfo], now: i64) -> Vec<&KeyInfo> {
    let mut signers: Vec<&KeyInfo> = keys
        .iter()
        .filter(|k| {
            k.state == KeyState::Active || (k.state == KeyState::Next && k.activates_at <= now)
        })
        .collect();
    signers.sort_by_key(|k| (k.activates_at, k.kid.clone()));
    signers
}

/// When the key after `current` (the signing key) signs: at once after a
/// pre-publication window when the configured algorithm changed, else one period after
/// `current` began, never sooner than a full window from `now`.
fn takeover(current: &KeyInfo, now: i64, t: &Timing) -> i64 {
    let window = now.saturating_add(t.prepublish);
    if current.alg != t.alg {
        return window;
    }
    current.activates_at.saturating_add(t.period).max(window)
}

/// A pending key of the configured algorithm, not signing yet.
fn is_pending(k: &KeyInfo, now: i64, t: &Timing) -> bool {
    k.state == KeyState::Next && k.activates_at > now && k.alg == t.alg
}

/// The transitions due at `now`.
pub fn plan(keys: &[KeyInfo], now: i64, t: &Timing) -> Vec<Action> {
    let mut actions = Vec::new();
    for k in keys {
        if k.state == KeyState::Retired && k.expires_at.is_some_and(|e| e <= now) {
            actions.push(Action::Delete { kid: k.kid.clone() });
        }
    }
    for k in keys
        .iter()
        .filter(|k| k.state == KeyState::Next && k.activates_at <= now)
    {
        actions.push(Action::Promote { kid: k.kid.clone() });
    }
    // After promotions, the newest active key signs; every other active key retires.
    let mut actives = signers(keys, now);
    let current = actives.pop();
    for k in actives {
        actions.push(Action::Retire {
            kid: k.kid.clone(),
            expires_at: now.saturating_add(t.retention),
        });
    }
    // A pending key of another algorithm (the configuration changed) is replaced.
    for k in keys
        .iter()
        .filter(|k| k.state == KeyState::Next && k.activates_at > now && k.alg != t.alg)
    {
        actions.push(Action::Delete { kid: k.kid.clone() });
    }
    let pending = keys.iter().any(|k| is_pending(k, now, t));
    match current {
        None if !pending => actions.push(Action::Create {
            state: KeyState::Active,
            activates_at: now,
        }),
        // The next key is made one pre-publication window before it takes over (at
        // once when the algorithm changed: its takeover is a window from now).
        Some(c) if !pending && now >= takeover(c, now, t).saturating_sub(t.prepublish) => actions
            .push(Action::Create {
                state: KeyState::Next,
                activates_at: takeover(c, now, t),
            }),
        _ => {}
    }
    actions
}

/// When the next rotation happens, as the plan will make it: the pending key's
/// activation, or the takeover of the key after the signing one. `None`: no key signs
/// yet (the next run of the plan creates one).
pub fn next_rotation(keys: &[KeyInfo], now: i64, t: &Timing) -> Option<i64> {
    let pending = keys
        .iter()
        .filter(|k| is_pending(k, now, t))
        .map(|k| k.activates_at)
        .min();
    pending.or_else(|| signers(keys, now).last().map(|c| takeover(c, now, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(alg: &str) -> Timing {
        Timing {
            period: 100,
            prepublish: 10,
            retention: 30,
            alg: alg.into(),
        }
    }

    fn key(kid: &str, state: KeyState, activates_at: i64, expires_at: Option<i64>) -> KeyInfo {
        KeyInfo {
            kid: kid.into(),
            state,
            alg: "RS256".into(),
            activates_at,
            expires_at,
        }
    }

    /// Applies a plan the way the database does.
    fn apply(keys: &mut Vec<KeyInfo>, actions: &[Action], n: &mut u32) {
        for a in actions {
            match a {
                Action::Create {
                    state,
                    activates_at,
                } => {
                    *n += 1;
                    keys.push(key(&format!("k{n}"), *state, *activates_at, None));
                }
                Action::Promote { kid } => keys
                    .iter_mut()
                    .filter(|k| &k.kid == kid)
                    .for_each(|k| k.state = KeyState::Active),
                Action::Retire { kid, expires_at } => {
                    keys.iter_mut().filter(|k| &k.kid == kid).for_each(|k| {
                        k.state = KeyState::Retired;
                        k.expires_at = Some(*expires_at);
                    })
                }
                Action::Delete { kid } => keys.retain(|k| &k.kid != kid),
            }
        }
    }

    #[test]
    fn an_empty_store_gets_an_active_key() {
        assert_eq!(
            plan(&[], 5, &timing("RS256")),
            vec![Action::Create {
                state: KeyState::Active,
                activates_at: 5
            }]
        );
    }

    #[test]
    fn next_key_is_published_prepublish_before_it_signs() {
        let keys = vec![key("a", KeyState::Active, 0, None)];
        assert!(plan(&keys, 89, &timing("RS256")).is_empty());
        assert_eq!(
            plan(&keys, 90, &timing("RS256")),
            vec![Action::Create {
                state: KeyState::Next,
                activates_at: 100
            }]
        );
        // Late (the server was down): still a full pre-publication window.
        assert_eq!(
            plan(&keys, 500, &timing("RS256")),
            vec![Action::Create {
                state: KeyState::Next,
                activates_at: 510
            }]
        );
    }

    #[test]
    fn promotion_retires_the_old_key_which_leaves_after_retention() {
        let keys = vec![
            key("a", KeyState::Active, 0, None),
            key("b", KeyState::Next, 100, None),
        ];
        assert!(plan(&keys, 99, &timing("RS256")).is_empty());
        assert_eq!(
            plan(&keys, 100, &timing("RS256")),
            vec![
                Action::Promote { kid: "b".into() },
                Action::Retire {
                    kid: "a".into(),
                    expires_at: 130
                }
            ]
        );
        let retired = vec![
            key("a", KeyState::Retired, 0, Some(130)),
            key("b", KeyState::Active, 100, None),
        ];
        assert!(plan(&retired, 129, &timing("RS256")).is_empty());
        assert_eq!(
            plan(&retired, 130, &timing("RS256")),
            vec![Action::Delete { kid: "a".into() }]
        );
    }

    #[test]
    fn plans_are_idempotent_and_make_one_key_per_period() {
        let mut keys = Vec::new();
        let mut n = 0;
        for now in 0..1_000 {
            let actions = plan(&keys, now, &timing("RS256"));
            apply(&mut keys, &actions, &mut n);
            assert!(
                plan(&keys, now, &timing("RS256")).is_empty(),
                "a second run at {now} changes nothing"
            );
            let active = keys.iter().filter(|k| k.state == KeyState::Active).count();
            assert_eq!(active, 1, "exactly one active key at {now}");
        }
        // The first key at 0, then one `prepublish` before each period ends: 90, 190 … 990.
        assert_eq!(n, 11, "one key at start and one per period after");
    }

    #[test]
    fn switching_the_algorithm_is_a_prepublished_rotation() {
        let keys = vec![key("a", KeyState::Active, 0, None)];
        let es = timing("ES256");
        assert_eq!(
            plan(&keys, 20, &es),
            vec![Action::Create {
                state: KeyState::Next,
                activates_at: 30
            }]
        );
        let mut with_next = keys.clone();
        with_next.push(KeyInfo {
            alg: "ES256".into(),
            ..key("b", KeyState::Next, 30, None)
        });
        assert!(plan(&with_next, 25, &es).is_empty(), "waits for its window");
        // Switching back before it activates drops the pending ES256 key.
        assert_eq!(
            plan(&with_next, 25, &timing("RS256")),
            vec![Action::Delete { kid: "b".into() }]
        );
    }

    #[test]
    fn the_next_rotation_is_when_the_plan_makes_the_next_key_sign() {
        let t = timing("RS256");
        let a = key("a", KeyState::Active, 0, None);
        assert_eq!(next_rotation(&[], 5, &t), None);
        assert_eq!(next_rotation(std::slice::from_ref(&a), 5, &t), Some(100));
        assert_eq!(
            next_rotation(std::slice::from_ref(&a), 500, &t),
            Some(510),
            "late"
        );
        let b = key("b", KeyState::Next, 100, None);
        assert_eq!(next_rotation(&[a.clone(), b.clone()], 95, &t), Some(100));
        // Once b signs, the rotation after it.
        assert_eq!(next_rotation(&[a.clone(), b], 100, &t), Some(200));
        assert_eq!(next_rotation(&[a], 20, &timing("ES256")), Some(30));
    }
}
