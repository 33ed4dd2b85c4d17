-- 稳岗返还 (unemployment insurance refund for job stabilisation), computed yearly for the
-- previous year Y ($cycle_start to $cycle_end).
--
-- Rule, for every enterprise in the legal entity theme:
--   * registered in the served district and active;
--   * unemployment insurance premiums paid in all twelve months of Y;
--   * layoff rate = 1 - headcount in December Y / headcount in December Y-1, at most
--     $max_layoff_rate (5.5 %), or $small_employer_max_layoff_rate (20 %) when the December
--     Y-1 headcount was $small_employer_headcount (30) or fewer;
--   * not on a dishonesty list on the as-of date (the card's credit_exclusion control).
-- Refund: refund_share_by_size (60 % medium, small and micro; 30 % large) of premiums paid
-- in Y, rounded to the fen.
-- Source: Shanghai 2024 refund round (advisory summary of the municipal notice).
WITH contributions AS (
    SELECT
        uscc,
        count(DISTINCT month) FILTER (premium_paid > 0
            AND left(month, 4) = CAST(year($cycle_start) AS VARCHAR)) AS months_paid,
        sum(premium_paid) FILTER (left(month, 4) = CAST(year($cycle_start) AS VARCHAR))
            AS premiums_paid,
        max(insured_headcount) FILTER (month = strftime($cycle_end, '%Y-%m'))
            AS headcount_december,
        max(insured_headcount) FILTER (month = printf('%d-12', year($cycle_start) - 1))
            AS headcount_december_before
    FROM staging.hrss__unemployment_insurance
    GROUP BY uscc
),
measured AS (
    SELECT
        e.*,
        coalesce(c.months_paid, 0) AS months_paid,
        c.premiums_paid,
        c.headcount_december,
        c.headcount_december_before,
        CASE WHEN c.headcount_december_before > 0
             THEN 1 - c.headcount_december / c.headcount_december_before END AS layoff_rate,
        CASE WHEN c.headcount_december_before <= $small_employer_headcount
             THEN $small_employer_max_layoff_rate ELSE $max_layoff_rate END AS layoff_limit
    FROM theme.legal_entity AS e
    LEFT JOIN contributions AS c USING (uscc)
)
SELECT
    m.uscc AS subject_id,
    m.name AS subject_name,
    coalesce(m.district_code = $served_district, false) AS cond_registered_in_district,
    m.status = 'active' AS cond_active,
    m.months_paid = 12 AS cond_insured_all_year,
    coalesce(m.layoff_rate <= m.layoff_limit, false) AS cond_layoff_rate_within_limit,
    m.size,
    m.months_paid,
    m.headcount_december_before,
    m.headcount_december,
    round(m.layoff_rate, 4) AS layoff_rate,
    m.layoff_limit,
    m.premiums_paid,
    share.share AS refund_share,
    round(m.premiums_paid * share.share, 2) AS amount,
    m.source_drop_id || ':' || m.source_row AS source_enterprise_register
FROM measured AS m
LEFT JOIN param_refund_share_by_size AS share ON share.size = m.size
