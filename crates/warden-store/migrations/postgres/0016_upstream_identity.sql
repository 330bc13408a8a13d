-- The identity an upstream's secret belongs to: a registered identity or an imported one,
-- so an agent's access graph can follow an upstream to the NHI the gateway acts as there
-- and that NHI's entitlements.
--
-- `identity_id`: the identity's id in its inventory (`identities` or `imported_identities`),
-- `identity_source`: `registered` or `imported`, `identity_ref`: its `KIND:NAME` when bound.
-- All three are NULL when no identity is named. Identities are never deleted (only revoked
-- or marked gone), so the id keeps naming the identity that was bound.

ALTER TABLE upstreams ADD COLUMN identity_id TEXT;
ALTER TABLE upstreams ADD COLUMN identity_source TEXT CHECK (identity_source IN ('registered', 'imported'));
ALTER TABLE upstreams ADD COLUMN identity_ref TEXT;
