-- Google sign-in (OpenID Connect): the Google account linked to a user, by its `sub` (the
-- provider's stable id; an address can change hands, a sub never does). One user per sub
-- product-wide, as emails are. The flow's short-lived state lives in Redis, not here.
ALTER TABLE users ADD COLUMN google_sub text CHECK (length(google_sub) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX users_google_sub_key ON users (google_sub) WHERE google_sub IS NOT NULL;

-- A returning Google sign-in knows no org yet: like the email and token lookups of 0011,
-- the one read across orgs, as clienta_system.
CREATE FUNCTION clienta_user_by_google_sub(p_sub text) RETURNS SETOF users
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT * FROM users u WHERE u.google_sub = p_sub;
END
$$;
SELECT clienta_system_function('clienta_user_by_google_sub(text)');
