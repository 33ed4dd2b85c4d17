-- 独生子女父母一次性奖励 (one-off reward for parents of an only child), monthly, confirmation.
--
-- Rule for cycle month M, for every registered person within a year of the reward age:
--   * registered in the served district, with no death record before the first day of M;
--   * reaches the reward age of reward_age_by_gender (60 for men, 55 for women) in M: that
--     age on the last day of M and not yet on the day before the first day of M;
--   * exactly one child in the kinship theme.
-- Amount: $reward_amount (5,000 yuan), once, since the reward age is reached only once.
-- Source: Shanghai only-child parents reward (Shanghai Daily archive; date of the rule not
-- established).
WITH children AS (
    SELECT parent_id, count(DISTINCT child_id) AS children
    FROM theme.kinship
    GROUP BY parent_id
),
candidates AS (
    SELECT p.*, t.age AS reward_age
    FROM theme.person AS p
    JOIN param_reward_age_by_gender AS t ON t.gender = p.gender
    WHERE age_on(p.birth_date, $cycle_end) BETWEEN t.age - 1 AND t.age
)
SELECT
    c.id_no AS subject_id,
    c.name AS subject_name,
    c.hukou_region = $served_district AS cond_registered_in_district,
    c.date_of_death IS NULL OR c.date_of_death >= $cycle_start AS cond_alive_at_cycle_start,
    age_on(c.birth_date, $cycle_end) = c.reward_age
        AND age_on(c.birth_date, CAST($cycle_start - INTERVAL 1 DAY AS DATE)) < c.reward_age
        AS cond_reaches_reward_age_in_month,
    coalesce(k.children, 0) = 1 AS cond_exactly_one_child,
    c.reward_age,
    coalesce(k.children, 0) AS children,
    CAST($reward_amount AS DECIMAL(18, 2)) AS amount,
    c.register_drop_id || ':' || c.register_row AS source_household_register
FROM candidates AS c
LEFT JOIN children AS k ON k.parent_id = c.id_no
