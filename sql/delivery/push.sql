-- Messages of a policy that pays: one per eligible subject, to its payee, with the tail of
-- the payee's usable account from {accounts} when there is one. Python chooses the template:
-- a confirmation request, a payout notice or a reminder to fix the account.
SELECT
    c.payee_id AS recipient_id,
    c.payee_name AS name,
    c.subject_id,
    c.amount,
    a.bank_name,
    right(a.account_no, 4) AS account_tail,
    a.account_no IS NOT NULL AS has_account
FROM {cohort} AS c
LEFT JOIN {accounts} AS a ON a.payee_id = c.payee_id
WHERE c.cycle = $cycle
ORDER BY c.payee_id, c.subject_id
