-- Confirmations are accepted only from subjects who were asked to confirm that policy and
-- cycle, on or after the day they were first asked and on or before that request's
-- deadline.
SELECT c._row, 'subject_id' AS "column", 'not_requested' AS "check",
       'no confirmation was requested from this subject for ' || c.policy_id || ' '
           || c.cycle || '; only subjects who were asked can confirm' AS reason
FROM _checked AS c
WHERE c.subject_id IS NOT NULL AND c.policy_id IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM delivery.push_log AS p
      WHERE p.policy_id = c.policy_id AND p.cycle = c.cycle AND p.subject_id = c.subject_id
        AND p.template = 'confirm_request'
  )
UNION ALL
SELECT c._row, 'decided_at', 'after_deadline',
       'decided on ' || c.decided_at || ', after the deadline ' || min(p.deadline)
           || '; a subject still eligible is asked again in a later cycle'
FROM _checked AS c
JOIN delivery.push_log AS p
    ON p.policy_id = c.policy_id AND p.cycle = c.cycle AND p.subject_id = c.subject_id
   AND p.template = 'confirm_request'
GROUP BY c._row, c.decided_at
HAVING c.decided_at > min(p.deadline)
UNION ALL
SELECT c._row, 'decided_at', 'before_request',
       'decided on ' || c.decided_at || ', before the request of ' || min(p.pushed_on)
           || '; check the date of the decision'
FROM _checked AS c
JOIN delivery.push_log AS p
    ON p.policy_id = c.policy_id AND p.cycle = c.cycle AND p.subject_id = c.subject_id
   AND p.template = 'confirm_request'
GROUP BY c._row, c.decided_at
HAVING c.decided_at < min(p.pushed_on)
