-- Every stored message bumps its conversation's last_seq and updated_at. While updated_at
-- was a column of conversations_org_mode_idx, each of those updates was a non-HOT update:
-- a new entry in every index of conversations, so a busy conversation's index entries
-- piled up dead versions that every later lookup walked (under chat load the top of
-- Postgres's profile was _bt_killitems and heap_hot_search_buffer). The inbox list sorts
-- by date_trunc('milliseconds', updated_at), which that index could not serve anyway; it
-- needs only (org_id, mode) to find its rows. With no indexed column changed, and room
-- left on each page, the per-message update is HOT: no index is touched.
DROP INDEX conversations_org_mode_idx;
CREATE INDEX conversations_org_mode_idx ON conversations (org_id, mode);
ALTER TABLE conversations SET (fillfactor = 80);
