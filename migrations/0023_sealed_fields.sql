-- Encryption at rest, the remaining columns (docs/privacy.md): a conversation's follow-up
-- address and rating comment and an unanswered question are sealed on write since this
-- release; rows from before are sealed by the start-up backfill (storage/backfill.py).
-- As 0012's, these partial indexes hold only unsealed rows, so finding what is left is an
-- index read, empty once done. Neither column changes per message, so the conversation
-- updates of the message path stay HOT.
CREATE INDEX conversations_unsealed_idx ON conversations (org_id)
    WHERE left(followup_email, 1) <> E'\x01' OR left(csat_comment, 1) <> E'\x01';
CREATE INDEX kb_unanswered_unsealed_idx ON kb_unanswered (org_id)
    WHERE left(question, 1) <> E'\x01';

-- Which orgs still have unsealed rows (ids only, across orgs). A replaced function takes
-- the properties its command states, so it is made a system function again.
CREATE OR REPLACE FUNCTION clienta_orgs_to_seal() RETURNS SETOF uuid LANGUAGE sql STABLE AS $$
    SELECT org_id FROM events WHERE left(body, 1) <> E'\x01'
    UNION SELECT org_id FROM visitors WHERE left(name, 1) <> E'\x01' OR left(email, 1) <> E'\x01'
    UNION SELECT org_id FROM conversations
        WHERE left(followup_email, 1) <> E'\x01' OR left(csat_comment, 1) <> E'\x01'
    UNION SELECT org_id FROM kb_unanswered WHERE left(question, 1) <> E'\x01'
$$;
SELECT clienta_system_function('clienta_orgs_to_seal()');
