-- 一次性扩岗补助 (one-time job expansion subsidy), monthly, one-click confirmation.
--
-- Rule for cycle month M, for every enterprise with employment records in M:
--   * registered in the served district and active, and not on a dishonesty list on the
--     as-of date (the card's credit_exclusion control);
--   * it has at least one qualifying hire: a person whose first month insured with it is M
--     and who graduated in M's year or up to $graduate_years_back years before, or was aged
--     $youth_min_age to $youth_max_age (16-24) on the first day of M;
--   * a person counts once ever: only for the earliest month (and, within it, the employer
--     with the smallest credit code) in which they were a qualifying hire.
-- Amount: $amount_per_hire (1,500 yuan) per qualifying hire.
-- Source: national 2023 notice on the one-time job expansion subsidy.
-- NOTE: a person employed since before the first delivered month looks newly hired in that
-- month, so the first months of records should be loaded before the first cycle is paid.
WITH first_month AS (
    SELECT id_no, uscc, min(month) AS month
    FROM staging.hrss__employment_records
    GROUP BY id_no, uscc
),
qualifying AS (
    SELECT f.id_no, f.uscc, f.month
    FROM first_month AS f
    LEFT JOIN theme.person AS p ON p.id_no = f.id_no
    WHERE f.month <= strftime($cycle_start, '%Y-%m')
      AND (
          EXISTS (
              SELECT 1 FROM staging.education__graduates AS g
              WHERE g.id_no = f.id_no
                AND year(g.graduated_on) BETWEEN CAST(left(f.month, 4) AS INTEGER)
                    - $graduate_years_back AND CAST(left(f.month, 4) AS INTEGER)
          )
          OR age_on(p.birth_date, CAST(strptime(f.month || '-01', '%Y-%m-%d') AS DATE))
              BETWEEN $youth_min_age AND $youth_max_age
      )
),
counted AS (
    SELECT * FROM qualifying
    QUALIFY row_number() OVER (PARTITION BY id_no ORDER BY month, uscc) = 1
),
hires AS (
    SELECT uscc, count(*) AS qualifying_hires
    FROM counted
    WHERE month = strftime($cycle_start, '%Y-%m')
    GROUP BY uscc
),
employers AS (
    SELECT DISTINCT uscc FROM staging.hrss__employment_records
    WHERE month = strftime($cycle_start, '%Y-%m')
)
SELECT
    x.uscc AS subject_id,
    e.name AS subject_name,
    coalesce(e.district_code = $served_district, false) AS cond_registered_in_district,
    coalesce(e.status = 'active', false) AS cond_active,
    coalesce(h.qualifying_hires, 0) > 0 AS cond_has_qualifying_hires,
    coalesce(h.qualifying_hires, 0) AS qualifying_hires,
    CAST(coalesce(h.qualifying_hires, 0) * $amount_per_hire AS DECIMAL(18, 2)) AS amount,
    e.source_drop_id || ':' || e.source_row AS source_enterprise_register
FROM employers AS x
LEFT JOIN theme.legal_entity AS e ON e.uscc = x.uscc
LEFT JOIN hires AS h ON h.uscc = x.uscc
