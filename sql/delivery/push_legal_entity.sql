-- Messages for a legal-entity policy: a payout notice for each eligible enterprise with a
-- basic account, and a reminder to register one for each enterprise without.
SELECT
    c.subject_id AS recipient_id,
    c.subject_name AS name,
    c.amount,
    e.bank_name,
    right(e.account_no, 4) AS account_tail,
    CASE WHEN e.account_no IS NULL THEN 'register_account' ELSE 'payout_notice' END AS template
FROM {cohort} AS c
LEFT JOIN theme.legal_entity AS e ON e.uscc = c.subject_id
WHERE c.cycle = $cycle
ORDER BY c.subject_id
