-- Payout candidates of a one-click confirmation policy in the run for cycle $cycle. Each
-- is a subject who confirmed an earlier cycle's request in a drop received before this
-- cycle began, and who is still in the cohort of the confirmed cycle, since a recomputation
-- of that cycle can remove them. The line is for the confirmed cycle. It goes to the
-- account the subject chose when confirming, or else to the payee's usable account in
-- {accounts}.
WITH confirmed AS (
    SELECT k.cycle, k.subject_id, k.account_no
    FROM staging.two_pages__confirmations AS k
    JOIN landing.drops AS d ON d.drop_id = k._drop_id AND d.status = 'accepted'
    WHERE k.policy_id = $policy_id AND k.decision = 'confirm'
      AND CAST(timezone('Asia/Shanghai', d.received_at) AS DATE) < $cycle_start
)
SELECT
    $policy_id AS policy_id,
    c.cycle AS period,
    $payee_type AS payee_type,
    c.subject_id,
    c.payee_id,
    c.payee_name,
    CASE WHEN k.account_no IS NULL THEN a.bank_name END AS bank_name,
    coalesce(k.account_no, a.account_no) AS account_no,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount,
    left(sha256($policy_id || '|' || c.cycle || '|' || c.subject_id), 32) AS idempotency_key
FROM {cohort} AS c
JOIN confirmed AS k ON k.cycle = c.cycle AND k.subject_id = c.subject_id
LEFT JOIN {accounts} AS a ON a.payee_id = c.payee_id
WHERE c.cycle < $cycle
