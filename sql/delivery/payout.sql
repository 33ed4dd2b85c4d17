-- Payout candidates of a direct policy: every eligible subject of the cycle, paid to its
-- payee (the subject itself unless the rule names another). {accounts} lists each payee's
-- usable account: for persons the social security card with status normal, for legal
-- entities the basic account. A payee without one has a NULL account_no and no line.
SELECT
    $policy_id AS policy_id,
    c.cycle AS period,
    $payee_type AS payee_type,
    c.subject_id,
    c.payee_id,
    c.payee_name,
    a.bank_name,
    a.account_no,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount,
    left(sha256($policy_id || '|' || c.cycle || '|' || c.subject_id), 32) AS idempotency_key
FROM {cohort} AS c
LEFT JOIN {accounts} AS a ON a.payee_id = c.payee_id
WHERE c.cycle = $cycle
