//! Dashboard sessions: who signed in, until when, and the token every form must carry.
//!
//! A session id is 32 random bytes, handed to the browser once in a cookie and kept here
//! only as its keyed hash, so the table (or a memory dump of it) cannot be replayed as
//! cookies. Each session carries its own CSRF token, compared in constant time. A session
//! ends when it has been idle for [`IDLE_SECS`], when it is [`MAX_AGE_SECS`] old, or on
//! sign-out, whichever comes first.
//!
//! Sessions live in this node's memory: a restart signs everyone out, and a dashboard
//! behind a load balancer over several nodes needs sticky routing.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;
use warden_audit::Actor;
use warden_core::Timestamp;
use warden_crypto::Pepper;

/// The cookie that carries the session id.
pub const COOKIE: &str = "warden_session";
/// A session unused this long is over.
pub const IDLE_SECS: i64 = 30 * 60;
/// No session outlives this, however busy.
pub const MAX_AGE_SECS: i64 = 8 * 60 * 60;
/// More live sessions than this and the least recently used one is ended: signing in
/// needs the admin token, so this bounds memory rather than stopping an attacker.
const MAX_SESSIONS: usize = 1024;
/// Keeps session-id hashes apart from every other keyed hash made with the pepper.
const SESSION_DOMAIN: &str = "warden-ui-session";
/// The longest name a person may sign in under; it is shown on every page and audited.
const MAX_PERSON_CHARS: usize = 100;

/// What a signed-in person may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Signed in with the admin token: everything the admin API allows.
    Administrator,
    /// Signed in through the identity provider as an active owner: their own identities
    /// and the approvals of their own agents, nothing else.
    Owner { owner_id: String, email: String },
}

/// One signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    person: String,
    role: Role,
    csrf: String,
    created_at: Timestamp,
    last_seen: Timestamp,
}

impl Session {
    /// Who signed in, as they named themselves at sign-in.
    pub fn person(&self) -> &str {
        &self.person
    }

    /// The token every form of this session carries.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The owner's email, for an owner's session.
    pub fn owner_email(&self) -> Option<&str> {
        match &self.role {
            Role::Administrator => None,
            Role::Owner { email, .. } => Some(email),
        }
    }

    /// Who the audit trail records for what this session changes: an administrator under
    /// the name they gave, an owner as `owner:ID` under their email.
    pub fn actor(&self) -> Actor {
        match &self.role {
            Role::Administrator => Actor::admin("dashboard", self.person.clone()),
            Role::Owner { owner_id, email } => Actor::admin(format!("owner:{owner_id}"), email),
        }
    }

    /// Whether `presented` is this session's CSRF token, in time that does not depend on
    /// how much of it is right.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }

    fn is_over_at(&self, now: Timestamp) -> bool {
        now >= self.last_seen.plus_secs(IDLE_SECS) || now >= self.created_at.plus_secs(MAX_AGE_SECS)
    }
}

/// A session just opened: the cookie value to send once, and the session.
#[derive(Debug)]
pub struct Opened {
    pub cookie_value: String,
    pub session: Session,
}

/// Every live session of this node, by the keyed hash of its id.
#[derive(Debug)]
pub struct Sessions {
    pepper: Pepper,
    table: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(pepper: Pepper) -> Self {
        Self {
            pepper,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Opens an administrator's session for `person` with a fresh id and CSRF token.
    pub fn open(&self, person: &str, now: Timestamp) -> Opened {
        self.open_as(person, Role::Administrator, now)
    }

    /// Opens an owner's session, named by their email.
    pub fn open_owner(&self, owner_id: &str, email: &str, now: Timestamp) -> Opened {
        let role = Role::Owner {
            owner_id: owner_id.to_string(),
            email: email.to_string(),
        };
        self.open_as(email, role, now)
    }

    fn open_as(&self, person: &str, role: Role, now: Timestamp) -> Opened {
        let cookie_value = URL_SAFE_NO_PAD.encode(warden_crypto::random::random_bytes::<32>());
        let session = Session {
            person: person.to_string(),
            role,
            csrf: URL_SAFE_NO_PAD.encode(warden_crypto::random::random_bytes::<32>()),
            created_at: now,
            last_seen: now,
        };
        let key = self.key(&cookie_value);
        let mut table = self.lock();
        table.retain(|_, session| !session.is_over_at(now));
        if table.len() >= MAX_SESSIONS
            && let Some(stalest) = table
                .iter()
                .min_by_key(|(_, session)| session.last_seen)
                .map(|(key, _)| *key)
        {
            table.remove(&stalest);
        }
        table.insert(key, session.clone());
        Opened {
            cookie_value,
            session,
        }
    }

    /// The live session `cookie_value` names, marked as used now; `None` for an unknown,
    /// malformed or ended one (which is then forgotten).
    pub fn find(&self, cookie_value: &str, now: Timestamp) -> Option<Session> {
        if !well_formed(cookie_value) {
            return None;
        }
        let key = self.key(cookie_value);
        let mut table = self.lock();
        let session = table.get_mut(&key)?;
        if session.is_over_at(now) {
            table.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Whether the session `cookie_value` names is still live, without counting this as a
    /// use: a page's open event stream must not keep an idle session from ending.
    pub fn is_live(&self, cookie_value: &str, now: Timestamp) -> bool {
        well_formed(cookie_value)
            && self
                .lock()
                .get(&self.key(cookie_value))
                .is_some_and(|session| !session.is_over_at(now))
    }

    /// Ends the session `cookie_value` names, if there is one.
    pub fn close(&self, cookie_value: &str) {
        if well_formed(cookie_value) {
            let key = self.key(cookie_value);
            self.lock().remove(&key);
        }
    }

    fn key(&self, cookie_value: &str) -> [u8; 32] {
        *self
            .pepper
            .hash(SESSION_DOMAIN, cookie_value.as_bytes())
            .as_bytes()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // A panic while holding the lock cannot leave a half-made entry (each change is one
        // map operation), so the table is still sound to use.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `value` could be a session id we made: 43 characters of unpadded base64url.
fn well_formed(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// Checks the name a person signs in under: what the audit trail will record them as.
pub fn check_person(text: &str) -> Result<String, String> {
    let person = text.trim();
    if person.is_empty() {
        return Err(
            "say who you are: your name or email is recorded with every change you make".into(),
        );
    }
    if person.chars().count() > MAX_PERSON_CHARS {
        return Err(format!(
            "your name or email may be at most {MAX_PERSON_CHARS} characters"
        ));
    }
    if person.chars().any(char::is_control) {
        return Err("your name or email may not contain control characters".into());
    }
    Ok(person.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Pepper::from_bytes([7; 32]))
    }

    const START: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn looking_whether_a_session_is_live_does_not_keep_it_alive() {
        let sessions = Sessions::new(Pepper::from_bytes([9; 32]));
        let opened = sessions.open("alice", START);
        let almost_idle = START.plus_secs(IDLE_SECS - 1);
        assert!(sessions.is_live(&opened.cookie_value, almost_idle));
        // Had that look counted as a use, the session would still be live here.
        assert!(!sessions.is_live(&opened.cookie_value, START.plus_secs(IDLE_SECS)));
        assert!(!sessions.is_live("not-a-session", START));
    }

    #[test]
    fn an_opened_session_is_found_by_its_cookie_and_nothing_else() {
        let sessions = sessions();
        let opened = sessions.open("alice@example.com", START);
        let found = sessions.find(&opened.cookie_value, START.plus_secs(1));
        assert_eq!(
            found.as_ref().map(Session::person),
            Some("alice@example.com")
        );
        let other = URL_SAFE_NO_PAD.encode([1u8; 32]);
        assert!(sessions.find(&other, START).is_none());
        assert!(sessions.find("", START).is_none());
        assert!(sessions.find("not a session id", START).is_none());
    }

    #[test]
    fn the_table_keeps_hashes_never_the_cookie_value() {
        let sessions = sessions();
        let opened = sessions.open("alice", START);
        let table = sessions.lock();
        assert_eq!(table.len(), 1);
        for key in table.keys() {
            assert_ne!(&key[..], opened.cookie_value.as_bytes());
            assert!(!format!("{key:?}").contains(&opened.cookie_value));
        }
    }

    #[test]
    fn each_session_gets_its_own_id_and_csrf_token() {
        let sessions = sessions();
        let first = sessions.open("alice", START);
        let second = sessions.open("alice", START);
        assert_ne!(first.cookie_value, second.cookie_value);
        assert_ne!(first.session.csrf_token(), second.session.csrf_token());
        assert!(!first.session.csrf_matches(second.session.csrf_token()));
    }

    #[test]
    fn a_session_ends_when_idle_too_long() {
        let sessions = sessions();
        let opened = sessions.open("alice", START);
        let almost = START.plus_secs(IDLE_SECS - 1);
        assert!(sessions.find(&opened.cookie_value, almost).is_some());
        // Use moved the idle deadline on.
        let later = almost.plus_secs(IDLE_SECS - 1);
        assert!(sessions.find(&opened.cookie_value, later).is_some());
        assert!(
            sessions
                .find(&opened.cookie_value, later.plus_secs(IDLE_SECS))
                .is_none()
        );
        // Once over, it stays over.
        assert!(sessions.find(&opened.cookie_value, later).is_none());
    }

    #[test]
    fn a_busy_session_still_ends_at_its_maximum_age() {
        let sessions = sessions();
        let opened = sessions.open("alice", START);
        let mut now = START;
        while now < START.plus_secs(MAX_AGE_SECS - 60) {
            now = now.plus_secs(60);
            assert!(sessions.find(&opened.cookie_value, now).is_some());
        }
        assert!(
            sessions
                .find(&opened.cookie_value, START.plus_secs(MAX_AGE_SECS))
                .is_none()
        );
    }

    #[test]
    fn sign_out_ends_the_session() {
        let sessions = sessions();
        let opened = sessions.open("alice", START);
        sessions.close(&opened.cookie_value);
        assert!(sessions.find(&opened.cookie_value, START).is_none());
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let sessions = sessions();
        let session = sessions.open("alice", START).session;
        let token = session.csrf_token().to_string();
        assert!(session.csrf_matches(&token));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&token[..token.len() - 1]));
        assert!(!session.csrf_matches(&format!("{token}x")));
        let mut flipped = token.into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert!(!session.csrf_matches(&String::from_utf8_lossy(&flipped)));
    }

    #[test]
    fn the_table_is_bounded_and_drops_the_stalest_session() {
        let sessions = sessions();
        let stalest = sessions.open("first", START);
        let mut now = START;
        for _ in 1..MAX_SESSIONS {
            now = now.plus_secs(1);
            sessions.open("someone", now);
        }
        assert!(sessions.find(&stalest.cookie_value, now).is_some());
        let oldest_unused = sessions.open("second", now.plus_secs(1));
        // `stalest` was just used, so the next sign-in ends another session instead.
        sessions.open("third", now.plus_secs(2));
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert!(
            sessions
                .find(&stalest.cookie_value, now.plus_secs(3))
                .is_some()
        );
        assert!(
            sessions
                .find(&oldest_unused.cookie_value, now.plus_secs(3))
                .is_some()
        );
    }

    #[test]
    fn the_person_is_trimmed_and_checked() {
        assert_eq!(
            check_person("  alice@example.com "),
            Ok("alice@example.com".into())
        );
        assert!(check_person("   ").is_err());
        assert!(check_person("alice\u{7}").is_err());
        assert!(check_person(&"a".repeat(MAX_PERSON_CHARS + 1)).is_err());
        assert!(check_person(&"a".repeat(MAX_PERSON_CHARS)).is_ok());
    }

    #[test]
    fn the_actor_names_the_person_and_the_dashboard() {
        let session = sessions().open("alice@example.com", START).session;
        assert_eq!(
            session.actor(),
            Actor::admin("dashboard", "alice@example.com")
        );
    }
}
