-- The identities that exist elsewhere, as their exports describe them, and the posture
-- findings raised over them and over Warden's own records.
--
-- `imported_identities`: one row per identity per source; `(source, kind, external_id)` is
-- what a re-import matches on. `record` is the importer's JSON (credentials, entitlements,
-- attributes; never a secret), kept whole so that an evaluation reads one column.
-- `owner_id` is NULL while the identity is orphaned; `owner_assigned` says a person chose
-- the owner, so a later import naming none does not take it away. `status` is `present`
-- or `gone` (missing from a later full export of the same source).
--
-- `imported_credentials`: the credentials' ids and dates, searchable (a key id, a leaked
-- fingerprint) without reading records.
--
-- `findings`: `finding_key` (rule, subject, credential) is what a re-evaluation matches on.
-- `status` is `open` or `resolved`; a suppression is a reason, an expiry and who set it,
-- and reads as `suppressed` while it lasts.

CREATE TABLE imported_identities (
    id             TEXT PRIMARY KEY,
    source         TEXT NOT NULL,
    format         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    external_id    TEXT NOT NULL,
    name           TEXT NOT NULL,
    owner_id       TEXT REFERENCES owners (id),
    owner_hint     TEXT,
    owner_assigned BIGINT NOT NULL DEFAULT 0,
    environment    TEXT,
    status         TEXT NOT NULL CHECK (status IN ('present', 'gone')),
    record         TEXT NOT NULL,
    first_seen     BIGINT NOT NULL,
    last_seen      BIGINT NOT NULL,
    gone_at        BIGINT,
    updated_at     BIGINT NOT NULL,
    UNIQUE (source, kind, external_id)
);

CREATE INDEX imported_identities_by_owner ON imported_identities (owner_id, id);
CREATE INDEX imported_identities_by_name ON imported_identities (kind, name);

CREATE TABLE imported_credentials (
    identity_id   TEXT NOT NULL REFERENCES imported_identities (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL,
    kind          TEXT NOT NULL,
    active        BIGINT NOT NULL,
    created_at    BIGINT,
    last_used_at  BIGINT,
    expires_at    BIGINT,
    fingerprint   TEXT,
    PRIMARY KEY (identity_id, credential_id)
);

CREATE INDEX imported_credentials_by_id ON imported_credentials (credential_id);
CREATE INDEX imported_credentials_by_fingerprint ON imported_credentials (fingerprint)
    WHERE fingerprint IS NOT NULL;

CREATE TABLE findings (
    id                 TEXT PRIMARY KEY,
    finding_key        TEXT NOT NULL UNIQUE,
    rule               TEXT NOT NULL,
    owasp              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    severity_rank      BIGINT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    subject_id         TEXT NOT NULL,
    identity_id        TEXT,
    identity_kind      TEXT,
    identity_name      TEXT,
    credential         TEXT,
    evidence           TEXT NOT NULL,
    remediation        TEXT NOT NULL,
    first_seen         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    resolved_at        BIGINT,
    suppressed_until   BIGINT,
    suppression_reason TEXT,
    suppressed_by      TEXT
);

-- Listings filter on one column and page by id: each index leads with the filter and ends
-- with the id, so a page is read in order without sorting every match.
CREATE INDEX findings_by_status ON findings (status, id);
CREATE INDEX findings_by_severity ON findings (severity_rank, id);
CREATE INDEX findings_by_rule ON findings (rule, id);
CREATE INDEX findings_by_owasp ON findings (owasp, id);
CREATE INDEX findings_by_subject ON findings (subject_id);
CREATE INDEX findings_by_identity_name ON findings (identity_name);
CREATE INDEX findings_by_credential ON findings (credential);
