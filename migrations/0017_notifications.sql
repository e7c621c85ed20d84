-- Notifications (issue 19 point 5): the org's inbox address and waiting threshold, the
-- kinds of mail each person has stopped, the devices each user signed in from (a keyed
-- hash only), and what each conversation has already been mailed about.

-- NULL inbox_email: the owners' addresses; NULL waiting_alert_s: the server's default
CREATE TABLE org_notifications (
    org_id uuid PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    inbox_email text CHECK (length(inbox_email) <= 320),
    waiting_alert_s int CHECK (waiting_alert_s BETWEEN 1 AND 604800)
);

-- A kind of mail (domain/notices.py NoticeKind) its subject stopped: a user (their
-- settings, or an unsubscribe link), a visitor (replies), or the org (its inbox).
CREATE TABLE mail_opt_outs (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    subject_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('replies', 'inbox', 'waiting', 'security')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, subject_id, kind)
);

-- HMAC(server secret, user | browser family | network): a new one on sign-in is a new
-- device. Nothing in it can be turned back into an address or a browser.
CREATE TABLE known_devices (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    fingerprint bytea NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, fingerprint)
);

-- Per conversation: the last agent reply mailed to the visitor, and the wait (its
-- queued_at) offline agents were alerted about. Written in the transaction that queues
-- the mail, so a mail goes out once whichever process's sweep gets there.
CREATE TABLE conversation_notices (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    conversation_id uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    replies_mailed_seq bigint NOT NULL DEFAULT 0,
    waiting_alerted_for timestamptz
);

SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'org_notifications', 'mail_opt_outs', 'known_devices', 'conversation_notices'
]::regclass[]) AS t;

-- the sweeps' candidates; neither column changes per message (updates stay HOT)
CREATE INDEX conversations_followup_idx ON conversations (id) WHERE followup_email IS NOT NULL;
CREATE INDEX conversations_waiting_idx ON conversations (queued_at) WHERE mode = 'queued';

-- Conversations of every org with an agent reply the visitor has neither read nor been
-- mailed, the first of them written before p_before (the debounce), of visitors who have
-- not stopped reply mail. Not claimed here: the mail's own transaction moves
-- replies_mailed_seq under the row lock (storage/notifications.py).
CREATE FUNCTION clienta_replies_due(p_before timestamptz, p_limit int)
RETURNS TABLE (org_id uuid, conversation_id uuid) LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    SELECT c.org_id, c.id FROM conversations c
    LEFT JOIN conversation_notices n ON n.conversation_id = c.id
    WHERE c.followup_email IS NOT NULL
      AND c.last_seq > greatest(c.visitor_read_seq, coalesce(n.replies_mailed_seq, 0))
      AND NOT EXISTS (SELECT 1 FROM mail_opt_outs o WHERE o.org_id = c.org_id
                      AND o.subject_id = c.visitor_id AND o.kind = 'replies')
      AND EXISTS (SELECT 1 FROM events e WHERE e.org_id = c.org_id AND e.conversation_id = c.id
                  AND e.seq > greatest(c.visitor_read_seq, coalesce(n.replies_mailed_seq, 0))
                  AND e.kind = 'msg' AND e.author_role = 'agent' AND e.created_at <= p_before)
    LIMIT p_limit;
END
$$;
SELECT clienta_system_function('clienta_replies_due(timestamptz, int)');

-- Conversations of every org queued longer than their org's threshold (p_default_s when
-- the org set none) whose current wait has not been alerted.
CREATE FUNCTION clienta_waits_due(p_default_s int, p_limit int)
RETURNS TABLE (org_id uuid, conversation_id uuid, queued_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    SELECT c.org_id, c.id, c.queued_at FROM conversations c
    LEFT JOIN org_notifications o ON o.org_id = c.org_id
    LEFT JOIN conversation_notices n ON n.conversation_id = c.id
    WHERE c.mode = 'queued'
      AND c.queued_at < now() - make_interval(secs => coalesce(o.waiting_alert_s, p_default_s))
      AND n.waiting_alerted_for IS DISTINCT FROM c.queued_at
    ORDER BY c.queued_at LIMIT p_limit;
END
$$;
SELECT clienta_system_function('clienta_waits_due(int, int)');
