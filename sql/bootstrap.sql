-- Schemas of the warehouse and the bookkeeping tables of the landing zone.
CREATE SCHEMA IF NOT EXISTS landing;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS theme;
CREATE SCHEMA IF NOT EXISTS cohort;
CREATE SCHEMA IF NOT EXISTS delivery;

CREATE SEQUENCE IF NOT EXISTS landing.drop_seq START 1;

-- One row per distinct file content received for a dataset. A drop moves from 'received'
-- (archived, not yet checked) to 'accepted' or 'rejected'; a drop still 'received' after a
-- crash is processed again from its archived copy.
CREATE TABLE IF NOT EXISTS landing.drops (
    drop_seq BIGINT NOT NULL,
    drop_id VARCHAR NOT NULL,
    department VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    archived_path VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    format VARCHAR,
    encoding VARCHAR,
    rows_read BIGINT,
    rows_accepted BIGINT,
    rows_quarantined BIGINT,
    error VARCHAR,
    processed_at TIMESTAMPTZ,
    run_id VARCHAR
);

-- Every file that arrived, including re-deliveries of content already received.
CREATE TABLE IF NOT EXISTS landing.deliveries (
    drop_id VARCHAR NOT NULL,
    department VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    arrived_at TIMESTAMPTZ NOT NULL,
    redelivery BOOLEAN NOT NULL,
    run_id VARCHAR
);

-- The payout ledger: every payout line ever issued, one per policy, subject and period (the
-- idempotency key). A line in the ledger is never issued again. Each payout file is written
-- from the ledger rows of its batch (policy and cycle), so a re-run reproduces it exactly.
-- A line that finance reports as failed is issued again, with the same key and the next
-- attempt number, once the payee's account has changed. A successful line is final.
CREATE TABLE IF NOT EXISTS delivery.payout_ledger (
    idempotency_key VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    policy_id VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,
    payee_type VARCHAR NOT NULL,
    payee_id VARCHAR NOT NULL,
    payee_name VARCHAR,
    bank_name VARCHAR,
    account_no VARCHAR NOT NULL,
    amount DECIMAL(18, 2) NOT NULL,
    batch VARCHAR NOT NULL,
    line_no BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    issued_run_id VARCHAR,
    issued_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (idempotency_key, attempt)
);

-- NOTE: a warehouse whose payout_ledger predates the attempt column keeps its old primary
-- key on idempotency_key alone. The column is added here, but retries there need the table
-- rebuilt with the key (idempotency_key, attempt).
ALTER TABLE delivery.payout_ledger ADD COLUMN IF NOT EXISTS attempt INTEGER DEFAULT 1;

-- Every message pushed, with the deadline of a confirmation request.
CREATE TABLE IF NOT EXISTS delivery.push_log (
    policy_id VARCHAR NOT NULL,
    cycle VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,
    recipient_id VARCHAR NOT NULL,
    template VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    pushed_on DATE NOT NULL,
    deadline DATE,
    run_id VARCHAR
);

CREATE SCHEMA IF NOT EXISTS ref;
