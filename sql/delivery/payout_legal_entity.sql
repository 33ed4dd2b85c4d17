-- Payout candidates for a legal-entity policy: every eligible enterprise of the cycle, paid
-- into the basic account from the market regulation register.
SELECT
    $policy_id AS policy_id,
    c.cycle AS period,
    'legal_entity' AS payee_type,
    c.subject_id,
    c.payee_id,
    c.payee_name,
    e.bank_name,
    e.account_no,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount,
    left(sha256($policy_id || '|' || c.cycle || '|' || c.subject_id), 32) AS idempotency_key
FROM {cohort} AS c
LEFT JOIN theme.legal_entity AS e ON e.uscc = c.payee_id
WHERE c.cycle = $cycle
