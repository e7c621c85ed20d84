-- An organisation's own settings (issue 22 point 3): the widget's look, handoff keywords
-- per language, unresolved turns and queue wait (NULL: the server's CLIENTA_ default),
-- business hours with the offline message, the org's tags, and the onboarding step only
-- the browser can report (the embed snippet copied). Bounds mirror server/domain/
-- org_settings.py, which refuses anything else first; orgs keeps its RLS policy (0011).
ALTER TABLE orgs
    ADD COLUMN widget_color text CHECK (widget_color ~ '^#[0-9a-f]{6}$'),
    ADD COLUMN widget_title text CHECK (length(widget_title) BETWEEN 1 AND 80),
    ADD COLUMN widget_position text CHECK (widget_position IN ('left', 'right')),
    ADD COLUMN widget_locale text CHECK (widget_locale IN ('en', 'th')),
    ADD COLUMN handoff_keywords jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(handoff_keywords) = 'object'),
    ADD COLUMN unresolved_turns int CHECK (unresolved_turns BETWEEN 1 AND 10),
    ADD COLUMN queue_wait_s int CHECK (queue_wait_s BETWEEN 30 AND 86400),
    -- {"timezone": "Asia/Bangkok", "days": {"mon": [["09:00", "18:00"]], ...}}; NULL: open
    ADD COLUMN business_hours jsonb,
    ADD COLUMN offline_message text NOT NULL DEFAULT ''
        CHECK (length(offline_message) <= 500),
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 100),
    ADD COLUMN snippet_copied_at timestamptz,
    ADD CONSTRAINT orgs_kb_threshold_range CHECK (kb_threshold BETWEEN 0 AND 1);

-- The wait offer per org: an org's queue_wait_s, else the server's. Queued rows younger
-- than the smallest an org may set are never due, so the partial index still bounds the
-- scan.
CREATE OR REPLACE FUNCTION clienta_take_due_wait_offers(p_older_than_s double precision,
                                                        p_limit int)
RETURNS TABLE (org_id uuid, id uuid) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    UPDATE conversations c SET wait_offered_at = now() WHERE c.id IN (
        SELECT q.id FROM conversations q JOIN orgs o ON o.id = q.org_id
        WHERE q.mode = 'queued' AND q.wait_offered_at IS NULL
          AND q.queued_at < now() - make_interval(secs => least(p_older_than_s, 30))
          AND q.queued_at < now() - make_interval(
                secs => coalesce(o.queue_wait_s::double precision, p_older_than_s))
        LIMIT p_limit FOR UPDATE OF q SKIP LOCKED)
    RETURNING c.org_id, c.id;
END
$$;
SELECT clienta_system_function('clienta_take_due_wait_offers(double precision, int)');
