-- 育儿补贴 (national childcare subsidy), monthly, one-click confirmation.
--
-- Rule for cycle month M, for every child in the household register:
--   * registered in the served district, with no death record before the first day of M;
--   * born on or before the first day of M and younger than $age_limit_years (3) on it;
--   * paid to the mother, or to the father when the mother has died before the first day
--     of M or has no social security card with status normal; the child-parent link comes
--     from the kinship theme (birth certificates first, then the household register).
-- Amount: $monthly_amount (300 yuan) per child.
-- Source: national childcare subsidy from 2025-01-01, 3,600 yuan a year per child under three.
WITH children AS (
    SELECT * FROM theme.person
    WHERE birth_date > CAST($cycle_start - INTERVAL (($age_limit_years + 1) * 12) MONTH AS DATE)
),
dead_before_cycle AS (
    SELECT id_no FROM staging.civil_affairs__death_records WHERE date_of_death < $cycle_start
),
payable AS (
    SELECT c.id_no
    FROM staging.hrss__social_security_cards AS c
    WHERE c.card_status = 'normal' AND c.id_no NOT IN (SELECT id_no FROM dead_before_cycle)
),
parents AS (
    SELECT
        k.child_id,
        max(k.parent_id) FILTER (k.parent_role = 'mother') AS mother_id,
        max(k.parent_id) FILTER (k.parent_role = 'father') AS father_id
    FROM theme.kinship AS k
    GROUP BY k.child_id
),
chosen AS (
    SELECT
        p.child_id,
        p.mother_id,
        p.father_id,
        CASE WHEN p.mother_id IN (SELECT id_no FROM payable) THEN p.mother_id
             WHEN p.father_id IN (SELECT id_no FROM payable) THEN p.father_id END AS payee_id
    FROM parents AS p
)
SELECT
    c.id_no AS subject_id,
    c.name AS subject_name,
    c.hukou_region = $served_district AS cond_registered_in_district,
    c.date_of_death IS NULL OR c.date_of_death >= $cycle_start AS cond_alive_at_cycle_start,
    c.birth_date <= $cycle_start AND age_on(c.birth_date, $cycle_start) < $age_limit_years
        AS cond_under_age_limit,
    ch.payee_id IS NOT NULL AS cond_parent_can_be_paid,
    c.birth_date,
    ch.mother_id,
    ch.father_id,
    ch.payee_id,
    payee.name AS payee_name,
    CAST($monthly_amount AS DECIMAL(18, 2)) AS amount,
    c.register_drop_id || ':' || c.register_row AS source_household_register
FROM children AS c
LEFT JOIN chosen AS ch ON ch.child_id = c.id_no
LEFT JOIN theme.person AS payee ON payee.id_no = ch.payee_id
