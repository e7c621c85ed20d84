-- Data-subject rights (issue 18): a visitor's processing state (restricted, objection,
-- erased, reported minor), consent records, the org's notice, and rights requests
-- tracked to their 30-day deadline.

-- objection: the reason, sealed under the visitor's key (Field.VISITOR_OBJECTION)
ALTER TABLE visitors
    ADD COLUMN restricted boolean NOT NULL DEFAULT false,
    ADD COLUMN objection text,
    ADD COLUMN erased_at timestamptz,
    ADD COLUMN reported_minor_at timestamptz;

-- What the visitor was shown (the notice's version), when, and what they chose. A
-- withdrawal is a new record with granted = false: the history stays as evidence.
CREATE TABLE consent_records (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    visitor_id uuid NOT NULL REFERENCES visitors(id) ON DELETE CASCADE,
    notice_version text NOT NULL CHECK (length(notice_version) BETWEEN 1 AND 64),
    granted boolean NOT NULL,
    source text NOT NULL CHECK (source IN ('widget', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_records_visitor_idx ON consent_records (org_id, visitor_id, created_at);

-- The org's privacy notice (shown by the widget before the first message when required)
-- and its retention of closed conversations (NULL: kept).
CREATE TABLE org_privacy (
    org_id uuid PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    notice_required boolean NOT NULL DEFAULT false,
    notice_version text CHECK (length(notice_version) BETWEEN 1 AND 64),
    notice_text text CHECK (length(notice_text) <= 4000),
    closed_retention_days int CHECK (closed_retention_days BETWEEN 1 AND 3650)
);

-- Every rights request, from the widget, the API or entered by an admin for one received
-- by email (then verified_by names who checked the requester's identity).
CREATE TABLE privacy_requests (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure', 'restriction',
                                       'portability', 'objection', 'withdrawal')),
    visitor_id uuid,           -- no FK: the request outlives an erased visitor's row
    subject_email text,        -- sealed under the org key (Field.REQUEST_EMAIL)
    source text NOT NULL CHECK (source IN ('widget', 'api', 'email')),
    received_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'refused')),
    completed_at timestamptz,
    evidence jsonb,            -- what was done (action, counts): ids only, never text
    verified_by uuid REFERENCES users(id) ON DELETE SET NULL,
    created_by uuid REFERENCES users(id) ON DELETE SET NULL,
    reminded_at timestamptz,   -- owners mailed at 7 days left
    overdue_mailed_at timestamptz,
    CHECK (due_at > received_at)
);
CREATE INDEX privacy_requests_open_idx ON privacy_requests (org_id, due_at) WHERE status = 'open';

SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'consent_records', 'org_privacy', 'privacy_requests'
]::regclass[]) AS t;

-- A restricted visitor (restriction of processing or an objection) is answered by people
-- only: none of their conversations is ever in bot mode, whichever code path asks, so
-- the bot (which answers only in bot mode, checked in the database) sends nothing of
-- theirs to an AI provider. Row triggers on inserts and on mode changes only: the
-- message path's updates of last_seq do not fire them.
CREATE FUNCTION clienta_people_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.mode = 'bot' AND EXISTS (SELECT 1 FROM visitors v WHERE v.id = NEW.visitor_id
                                    AND v.org_id = NEW.org_id AND v.restricted) THEN
        NEW.mode := 'queued';
        NEW.queued_at := coalesce(NEW.queued_at, now());
        NEW.needs_human := true;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER conversations_people_only_insert BEFORE INSERT ON conversations
    FOR EACH ROW WHEN (NEW.mode = 'bot') EXECUTE FUNCTION clienta_people_only();
CREATE TRIGGER conversations_people_only_mode BEFORE UPDATE OF mode ON conversations
    FOR EACH ROW WHEN (NEW.mode = 'bot') EXECUTE FUNCTION clienta_people_only();

-- Open requests of every org due for a reminder (7 days left) or overdue, not yet mailed.
CREATE FUNCTION clienta_privacy_requests_due(p_now timestamptz, p_limit int)
RETURNS TABLE (org_id uuid, request_id uuid, overdue boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    SELECT r.org_id, r.id, r.due_at <= p_now FROM privacy_requests r
    WHERE r.status = 'open'
      AND ((r.due_at <= p_now AND r.overdue_mailed_at IS NULL)
           OR (r.due_at > p_now AND r.due_at <= p_now + interval '7 days'
               AND r.reminded_at IS NULL))
    ORDER BY r.due_at LIMIT p_limit;
END
$$;
SELECT clienta_system_function('clienta_privacy_requests_due(timestamptz, int)');
