-- What the last evaluation saw of each imported identity, so a full evaluation runs the
-- per-identity rules again only where their outcome can have changed.
--
-- `imported_identities.revision` goes up with every write to an identity's row (a changed
-- record, owner or presence); reading it with the record tells a later evaluation whether
-- anything it read has changed since.
--
-- `posture_evaluated_subjects`: per identity, the revision and owner (email, offboarded)
-- the evaluation read, the basis it evaluated under (a fingerprint of the rules and
-- thresholds), when it ran, and `stable_until`, the first instant (epoch ms) at which a rule
-- that reads the clock could answer differently (NULL: only a change to the identity can).
-- An identity is evaluated again when any of these no longer holds, or when the clock reads
-- earlier than the evaluation did.

ALTER TABLE imported_identities ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- Covers the comparison with the evaluated subjects, so it reads neither record nor row.
CREATE INDEX imported_identities_for_evaluation ON imported_identities (id, revision, owner_id);

CREATE TABLE posture_evaluated_subjects (
    identity_id      TEXT PRIMARY KEY REFERENCES imported_identities (id) ON DELETE CASCADE,
    revision         INTEGER NOT NULL,
    owner_email      TEXT,
    owner_offboarded INTEGER NOT NULL,
    basis            TEXT NOT NULL,
    evaluated_at     INTEGER NOT NULL,
    stable_until     INTEGER
) WITHOUT ROWID;
