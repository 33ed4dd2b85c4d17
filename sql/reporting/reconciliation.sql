-- Reconciliation per policy and cycle: eligible, pushed, confirmed, paid and not yet paid,
-- with omissions (eligible in this and the previous cycle, paid for neither) and payout
-- lines without a matching eligible row, the average days from the start of the cycle to
-- the payout line, and the eligible subjects included or excluded by a correction. Reads
-- {cohorts}: every cohort table, unioned.
CREATE OR REPLACE TABLE reporting.reconciliation AS
WITH eligible AS (
    SELECT policy_id, cycle, subject_id, amount, cycle_start, correction_applied
    FROM ({cohorts})
),
previous AS (
    SELECT e.*, lag(cycle) OVER (PARTITION BY policy_id, subject_id ORDER BY cycle)
        AS previous_cycle
    FROM eligible AS e
),
paid AS (
    SELECT policy_id, period AS cycle, subject_id, amount, issued_at
    FROM delivery.payout_ledger
    QUALIFY row_number() OVER (PARTITION BY idempotency_key ORDER BY attempt DESC) = 1
),
confirmed AS (
    SELECT policy_id, cycle, count(*) FILTER (decision = 'confirm') AS confirmed,
           count(*) FILTER (decision = 'decline') AS declined
    FROM staging.two_pages__confirmations
    GROUP BY ALL
),
pushed AS (
    SELECT policy_id, cycle, count(DISTINCT subject_id) AS pushed
    FROM delivery.push_log
    GROUP BY ALL
),
objections AS (
    SELECT policy_id, cycle, count(*) AS objections,
           count(*) FILTER (resolved_at IS NULL) AS objections_open
    FROM staging.two_pages__objections
    GROUP BY ALL
),
per_cycle AS (
    SELECT
        e.policy_id,
        e.cycle,
        count(*) AS eligible,
        sum(e.amount) AS eligible_amount,
        count(p.subject_id) AS paid,
        coalesce(sum(p.amount), 0) AS paid_amount,
        count(*) - count(p.subject_id) AS not_yet_paid,
        round(avg(date_diff('day', e.cycle_start,
                            CAST(timezone('Asia/Shanghai', p.issued_at) AS DATE))), 1)
            AS days_to_payout,
        count(e.correction_applied) AS corrected,
        count(*) FILTER (
            p.subject_id IS NULL AND e.previous_cycle IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM paid AS q WHERE q.policy_id = e.policy_id
                            AND q.cycle = e.previous_cycle AND q.subject_id = e.subject_id)
        ) AS omissions
    FROM previous AS e
    LEFT JOIN paid AS p USING (policy_id, cycle, subject_id)
    GROUP BY ALL
),
unmatched AS (
    SELECT p.policy_id, p.cycle, count(*) AS unmatched_lines
    FROM paid AS p
    LEFT JOIN eligible AS e USING (policy_id, cycle, subject_id)
    WHERE e.subject_id IS NULL
    GROUP BY ALL
)
SELECT
    c.*,
    coalesce(s.pushed, 0) AS pushed,
    coalesce(k.confirmed, 0) AS confirmed,
    coalesce(k.declined, 0) AS declined,
    coalesce(o.objections, 0) AS objections,
    coalesce(o.objections_open, 0) AS objections_open,
    coalesce(u.unmatched_lines, 0) AS unmatched_lines
FROM per_cycle AS c
LEFT JOIN pushed AS s USING (policy_id, cycle)
LEFT JOIN confirmed AS k USING (policy_id, cycle)
LEFT JOIN objections AS o USING (policy_id, cycle)
LEFT JOIN unmatched AS u USING (policy_id, cycle)
ORDER BY policy_id, cycle;
