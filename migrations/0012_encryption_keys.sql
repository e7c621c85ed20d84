-- Encryption at rest (docs/privacy.md): a key per org wrapped by the master key, a key
-- per visitor wrapped by its org's key. Only wrapped keys are stored; the master key
-- never reaches the database. A NULL `wrapped` with `erased_at` set is a destroyed key
-- (crypto-shredding): what it sealed can never be opened again, and no new key is made.
CREATE TABLE org_keys (
    org_id uuid PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    master_key_id text,            -- which master key wraps it (a hash, never the key)
    wrapped bytea,                 -- AES-256-GCM envelope of the org key, AD = org
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz,
    erased_at timestamptz,
    CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);
-- the rotation's work list: org keys still under another master key
CREATE INDEX org_keys_master_idx ON org_keys (master_key_id) WHERE wrapped IS NOT NULL;

CREATE TABLE visitor_keys (
    visitor_id uuid PRIMARY KEY REFERENCES visitors(id) ON DELETE CASCADE,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    wrapped bytea,                 -- envelope under the org key, AD = org + visitor
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);
CREATE INDEX visitor_keys_org_idx ON visitor_keys (org_id);

-- Erasures, by id only (never who the person was): the in-database copy of the erasure
-- ledger. The copy a restore replays is the ledger file kept apart from the backups.
CREATE TABLE key_erasures (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL,          -- no foreign key: it outlives the org it names
    visitor_id uuid,               -- null: the whole org's key
    erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX key_erasures_org_idx ON key_erasures (org_id);

-- Rows written before encryption began are sealed by `clienta keys encrypt-existing`
-- (run by migrate and serve at start-up), org by org. These partial indexes hold only
-- unsealed rows (a sealed text starts with \x01), so finding what is left is an index
-- read, empty once done; a sealed insert adds no entry.
CREATE INDEX events_unsealed_idx ON events (org_id) WHERE left(body, 1) <> E'\x01';
CREATE INDEX visitors_unsealed_idx ON visitors (org_id)
    WHERE left(name, 1) <> E'\x01' OR left(email, 1) <> E'\x01';

-- Which orgs still have unsealed rows: ids only, across orgs, so it runs as clienta_system.
CREATE FUNCTION clienta_orgs_to_seal() RETURNS SETOF uuid LANGUAGE sql STABLE AS $$
    SELECT org_id FROM events WHERE left(body, 1) <> E'\x01'
    UNION SELECT org_id FROM visitors WHERE left(name, 1) <> E'\x01' OR left(email, 1) <> E'\x01'
$$;
SELECT clienta_system_function('clienta_orgs_to_seal()');

-- Tenant scoping, as every tenant table (migrations/0011's pattern).
SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'org_keys', 'visitor_keys', 'key_erasures']::regclass[]) AS t;
GRANT USAGE ON SEQUENCE key_erasures_id_seq TO clienta_serving;
