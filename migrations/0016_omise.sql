-- Omise (docs/billing.md "Omise"): Omise has no subscriptions here, so Clienta keeps the
-- period and renews it. Every charge we create, with the plan and amount we asked for
-- (a webhook or a poll re-reads the charge from the API and is checked against this row);
-- one renewal action per org, period and kind (the renewal job's claim, once across
-- processes); a plan change waiting for the next period.
CREATE TABLE omise_charges (
    charge_id text PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    plan text NOT NULL CHECK (plan IN ('starter', 'pro')),
    method text NOT NULL CHECK (method IN ('card', 'promptpay')),
    purpose text NOT NULL CHECK (purpose IN ('subscribe', 'renewal')),
    amount bigint NOT NULL CHECK (amount > 0),  -- satang
    currency text NOT NULL,
    -- as the API last said: pending, successful, failed, expired, reversed
    status text NOT NULL DEFAULT 'pending',
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);
CREATE INDEX omise_charges_org_idx ON omise_charges (org_id, created_at DESC);

CREATE TABLE omise_renewals (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    period_end timestamptz NOT NULL,  -- the period this action renews (or ends)
    -- charge: the saved card charged; roll: paid ahead (PromptPay), the next period starts
    -- at period_end; notice: the owner mailed a renewal link; lapse: unpaid at the end,
    -- grace started (domain/renewals.py)
    action text NOT NULL CHECK (action IN ('charge', 'roll', 'notice', 'lapse')),
    charge_id text,
    plan text CHECK (plan IN ('starter', 'pro')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, period_end, action)
);

ALTER TABLE billing_accounts ADD COLUMN next_plan text CHECK (next_plan IN ('starter', 'pro'));

SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'omise_charges', 'omise_renewals'
]::regclass[]) AS t;

-- A webhook names a charge, not our org: whose charge it is (only charges we created).
CREATE FUNCTION clienta_omise_charge_org(p_charge text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT c.org_id FROM omise_charges c WHERE c.charge_id = p_charge);
END
$$;
SELECT clienta_system_function('clienta_omise_charge_org(text)');

-- The renewal job's candidates across orgs: Omise subscriptions whose period ends before
-- p_until (the notice lead). Each is then decided in its org's own transaction.
CREATE FUNCTION clienta_omise_renewals_due(p_until timestamptz, p_limit int)
RETURNS TABLE (org_id uuid) LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM clienta_system_job();
    RETURN QUERY
    SELECT b.org_id FROM billing_accounts b
    WHERE b.provider = 'omise' AND b.subscription_id IS NOT NULL
      AND b.status IN ('active', 'past_due', 'unpaid') AND b.period_end < p_until
    ORDER BY b.period_end LIMIT p_limit;
END
$$;
SELECT clienta_system_function('clienta_omise_renewals_due(timestamptz, int)');
