-- Public disclosure list (信息公示) of a legal-entity policy: every eligible enterprise of the
-- cycle with its name and credit code, which are public, the street and the amount.
SELECT
    $policy_id AS policy_id,
    c.cycle,
    csv_safe(c.subject_name) AS name,
    c.subject_id AS id_no,
    coalesce(s.street_name, '') AS street,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount
FROM {cohort} AS c
LEFT JOIN theme.legal_entity AS e ON e.uscc = c.subject_id
LEFT JOIN ref.streets AS s ON s.street_code = e.street_code
WHERE c.cycle = $cycle
ORDER BY s.street_name, c.subject_id
