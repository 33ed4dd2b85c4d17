-- 重度残疾人护理补贴 (nursing subsidy for persons with severe disabilities), paid monthly.
--
-- Rule for cycle month M, for every holder of a disability certificate:
--   * the household register entry is in the served district;
--   * the certificate is still valid on the first day of M (valid_until on or after it);
--   * no death record is dated before the first day of M;
--   * the grade qualifies: grade 1 (300 yuan), grade 2 (150 yuan), or grade 3 in the
--     intellectual or mental category (150 yuan), from the dated table monthly_amount_by_grade.
-- Source: Shanghai two disability subsidies from January 2016 (news reposts, 2016).
SELECT
    c.id_no AS subject_id,
    p.name AS subject_name,
    coalesce(p.hukou_region = $served_district, false) AS cond_registered_in_district,
    c.valid_until >= $cycle_start AS cond_certificate_valid,
    p.date_of_death IS NULL OR p.date_of_death >= $cycle_start AS cond_alive_at_cycle_start,
    rate.amount IS NOT NULL AS cond_grade_qualifies,
    c.grade,
    c.category,
    c.valid_until,
    rate.amount,
    p.register_drop_id || ':' || p.register_row AS source_household_register,
    c._drop_id || ':' || c._row AS source_disability_certificate,
    p.death_drop_id || ':' || p.death_row AS source_death_record
FROM staging.dpf__disability_certificates AS c
LEFT JOIN theme.person AS p ON p.id_no = c.id_no
LEFT JOIN param_monthly_amount_by_grade AS rate
    ON rate.grade = c.grade AND rate.category IN ('*', c.category)
