-- Messages for a legal-entity policy: a payout notice for each eligible enterprise with a
-- basic account, and a reminder to register one for each enterprise without.
SELECT
    c.payee_id AS recipient_id,
    c.payee_name AS name,
    c.subject_id,
    c.amount,
    e.bank_name,
    right(e.account_no, 4) AS account_tail,
    e.account_no IS NOT NULL AS has_account
FROM {cohort} AS c
LEFT JOIN theme.legal_entity AS e ON e.uscc = c.payee_id
WHERE c.cycle = $cycle
ORDER BY c.payee_id, c.subject_id
