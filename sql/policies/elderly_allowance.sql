-- 老年综合津贴 (Shanghai senior comprehensive allowance), paid monthly without application.
--
-- Rule for cycle month M (from $cycle_start, the first day, to $cycle_end, the last day):
--   * the household register entry is in the served district ($served_district);
--   * no death record is dated before the first day of M (a death during M is still paid);
--   * the person reaches $minimum_age (65) on or before the last day of M; a 29 February
--     birthday falls on 28 February in other years.
-- The monthly amount follows the age reached on the last day of M, from the dated table
-- parameter monthly_amount_by_age (65-69: 75, 70-79: 150, 80-89: 180, 90-99: 350, 100+: 600
-- yuan from 2016-05-01).
-- Source: Shanghai municipal senior comprehensive allowance scheme, in force from 2016-05-01
-- (China News Service, 2016-04-07).
SELECT
    p.id_no AS subject_id,
    p.name AS subject_name,
    p.hukou_region = $served_district AS cond_registered_in_district,
    p.date_of_death IS NULL OR p.date_of_death >= $cycle_start AS cond_alive_at_cycle_start,
    age_on(p.birth_date, $cycle_end) >= $minimum_age AS cond_reaches_minimum_age,
    age_on(p.birth_date, $cycle_end) AS age_at_cycle_end,
    bracket.amount AS amount,
    p.register_drop_id || ':' || p.register_row AS source_household_register,
    p.death_drop_id || ':' || p.death_row AS source_death_record
FROM theme.person AS p
LEFT JOIN param_monthly_amount_by_age AS bracket
    ON age_on(p.birth_date, $cycle_end) BETWEEN bracket.min_age AND bracket.max_age
