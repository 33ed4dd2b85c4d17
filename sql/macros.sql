-- Date helpers shared by the policy rules. Every date here is a local date in Asia/Shanghai.

-- Whole years of age reached on day d by a person born on birth. A 29 February birthday
-- falls on 28 February in years that are not leap years.
CREATE OR REPLACE TEMP MACRO is_leap_year(y) AS (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0;
CREATE OR REPLACE TEMP MACRO birthday_day(birth, y) AS
    CASE WHEN month(birth) = 2 AND day(birth) = 29 AND NOT is_leap_year(y) THEN 28
         ELSE day(birth) END;
CREATE OR REPLACE TEMP MACRO age_on(birth, d) AS
    year(d) - year(birth)
    - CASE WHEN month(d) * 100 + day(d) < month(birth) * 100 + birthday_day(birth, year(d))
           THEN 1 ELSE 0 END;
