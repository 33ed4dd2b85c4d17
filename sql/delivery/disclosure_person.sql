-- Public disclosure list (信息公示) of a person policy: every eligible subject of the cycle
-- with the name and ID number masked, the street and the amount.
SELECT
    $policy_id AS policy_id,
    c.cycle,
    csv_safe(mask_name(c.subject_name)) AS name,
    mask_id(c.subject_id) AS id_no,
    coalesce(s.street_name, '') AS street,
    CAST(c.amount AS DECIMAL(18, 2)) AS amount
FROM {cohort} AS c
LEFT JOIN theme.person AS p ON p.id_no = c.subject_id
LEFT JOIN ref.streets AS s ON s.street_code = p.street_code
WHERE c.cycle = $cycle
ORDER BY s.street_name, c.subject_id
