-- Messages for a person policy: a payout notice for each eligible subject with a normal social
-- security card, and a reminder to activate the card for each one without.
SELECT
    c.subject_id AS recipient_id,
    c.subject_name AS name,
    c.amount,
    card.bank_name,
    right(card.account_no, 4) AS account_tail,
    CASE WHEN card.account_no IS NULL THEN 'activate_card' ELSE 'payout_notice' END AS template
FROM {cohort} AS c
LEFT JOIN staging.hrss__social_security_cards AS card
    ON card.id_no = c.subject_id AND card.card_status = 'normal'
WHERE c.cycle = $cycle
ORDER BY c.subject_id
