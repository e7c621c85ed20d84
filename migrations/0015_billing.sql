-- Billing: an org's subscription as its payment provider last told us (ids, plan, period,
-- status; card brand, last four digits and expiry only, never a card number), the invoices
-- to show, every provider event applied (each once: UNIQUE), LLM tokens per answer, and
-- the usage alerts already mailed. Usage itself is counted from events and conversations.
CREATE TABLE billing_accounts (
    org_id uuid PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    provider text NOT NULL CHECK (provider IN ('stripe', 'omise')),
    customer_id text,
    subscription_id text,
    plan text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'starter', 'pro')),
    status text NOT NULL DEFAULT 'none'
        CHECK (status IN ('none', 'incomplete', 'trialing', 'active', 'past_due', 'unpaid',
                          'canceled')),
    period_start timestamptz,
    period_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    -- a failed payment keeps the paid plan until then; after it the org is on free
    grace_until timestamptz,
    card_brand text CHECK (length(card_brand) <= 20),
    card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_exp_month smallint CHECK (card_exp_month BETWEEN 1 AND 12),
    card_exp_year smallint,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX billing_accounts_customer_key ON billing_accounts (provider, customer_id)
    WHERE customer_id IS NOT NULL;

-- Every provider event (Stripe event id, Omise charge id) applied, recorded in the same
-- transaction as its effect: a replay finds its row and does nothing.
CREATE TABLE billing_events (
    provider text NOT NULL,
    event_id text NOT NULL,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    type text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX billing_events_org_idx ON billing_events (org_id, received_at);

CREATE TABLE billing_invoices (
    provider text NOT NULL,
    invoice_id text NOT NULL,
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    amount bigint NOT NULL,  -- in the currency's minor unit (cents, satang)
    currency text NOT NULL,
    status text NOT NULL,
    issued_at timestamptz NOT NULL,
    url text,  -- the provider's hosted invoice page
    PRIMARY KEY (provider, invoice_id)
);
CREATE INDEX billing_invoices_org_idx ON billing_invoices (org_id, issued_at DESC);

-- LLM tokens of each answer stream, once per stream (a retried record is a no-op); the
-- offline bot uses no model and records nothing.
CREATE TABLE usage_tokens (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    stream_id text NOT NULL,
    tokens_in int NOT NULL CHECK (tokens_in >= 0),
    tokens_out int NOT NULL CHECK (tokens_out >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, stream_id)
);
CREATE INDEX usage_tokens_org_idx ON usage_tokens (org_id, created_at);

-- A usage alert mailed (80 or 100 percent of a limit in a period): once each.
CREATE TABLE usage_alerts (
    org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    metric text NOT NULL,
    percent smallint NOT NULL CHECK (percent IN (80, 100)),
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, period_start, metric, percent)
);

-- AI answers are counted from events by org and time: this index serves the meter's count
CREATE INDEX events_org_bot_idx ON events (org_id, created_at)
    WHERE author_role = 'bot' AND kind = 'msg';

SELECT clienta_tenant_table(t) FROM unnest(ARRAY[
    'billing_accounts', 'billing_events', 'billing_invoices', 'usage_tokens', 'usage_alerts'
]::regclass[]) AS t;

-- A provider's webhook names its customer, not our org: the one cross-tenant lookup.
CREATE FUNCTION clienta_billing_org(p_provider text, p_customer text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT b.org_id FROM billing_accounts b
            WHERE b.provider = p_provider AND b.customer_id = p_customer);
END
$$;
SELECT clienta_system_function('clienta_billing_org(text, text)');
