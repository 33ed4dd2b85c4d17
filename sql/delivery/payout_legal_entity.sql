-- Payout candidates for a legal-entity policy: every eligible enterprise of the cycle, paid
-- into the basic account from the market regulation register.
SELECT
    $policy_id AS policy_id,
    c.cycle AS period,
    'legal_entity' AS payee_type,
    c.subject_id AS payee_id,
    c.subject_name AS payee_name,
    e.bank_name,
    e.account_no,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount,
    left(sha256($policy_id || '|' || c.cycle || '|' || c.subject_id), 32) AS idempotency_key
FROM {cohort} AS c
LEFT JOIN theme.legal_entity AS e ON e.uscc = c.subject_id
WHERE c.cycle = $cycle
