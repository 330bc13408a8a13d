-- Leaked secrets reported to Warden (`POST /v1/leaks`, `warden scan --report`) and what
-- Warden matched them to.
--
-- `leak_reports`: one row per leaked secret, keyed by a keyed hash (under the server's
-- pepper) of the secret's leak fingerprint, so neither the secret nor a fingerprint that
-- could be tested against guesses is stored. `matched` says what the secret is; the
-- subject, credential and upstream secret version say which one. `locations` is a JSON
-- array of the latest distinct places it was seen. `response` is what Warden did:
-- `revoked` (a Warden credential), `suspended` (an imported identity, which Warden
-- cannot switch off at its source) or `none`.
--
-- `upstreams.secret_leak_fingerprint`: the keyed hash of the upstream secret's leak
-- fingerprint, written with the sealed secret, so a reported secret is compared without
-- opening any sealed value.
--
-- `imported_identities.suspended_at`: set when a leak of one of its credentials was
-- answered by suspending it in Warden.

CREATE TABLE leak_reports (
    id                 TEXT PRIMARY KEY,
    fingerprint_hash   TEXT NOT NULL UNIQUE,
    secret_kind        TEXT,
    matched            TEXT NOT NULL
        CHECK (matched IN ('client_secret', 'imported_credential', 'upstream_secret', 'unknown')),
    subject_id         TEXT,
    identity_kind      TEXT,
    identity_name      TEXT,
    owner_id           TEXT,
    credential_id      TEXT,
    secret_version     BIGINT,
    locations          TEXT NOT NULL,
    report_count       BIGINT NOT NULL,
    first_reported_at  BIGINT NOT NULL,
    last_reported_at   BIGINT NOT NULL,
    response           TEXT NOT NULL CHECK (response IN ('none', 'revoked', 'suspended')),
    responded_at       BIGINT
);

CREATE INDEX leak_reports_by_last_reported ON leak_reports (last_reported_at, id);
CREATE INDEX leak_reports_by_subject ON leak_reports (subject_id);

ALTER TABLE upstreams ADD COLUMN secret_leak_fingerprint TEXT;
CREATE INDEX upstreams_by_secret_leak_fingerprint ON upstreams (secret_leak_fingerprint);

ALTER TABLE imported_identities ADD COLUMN suspended_at BIGINT;
