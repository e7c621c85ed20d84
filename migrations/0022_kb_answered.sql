-- Unanswered questions a person has answered from the console (issue 22 point 2): the
-- question-and-answer document the answer became, and when. The console lists the open
-- ones; kb_unanswered keeps its RLS policy (0011).
ALTER TABLE kb_unanswered
    ADD COLUMN answered_at timestamptz,
    ADD COLUMN answer_document_id uuid;
CREATE INDEX kb_unanswered_open_idx ON kb_unanswered (org_id, created_at DESC, id)
    WHERE answered_at IS NULL;
