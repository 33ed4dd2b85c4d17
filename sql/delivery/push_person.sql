-- Messages for a person policy: a payout notice for each eligible subject with a normal social
-- security card, and a reminder to activate the card for each one without.
SELECT
    c.payee_id AS recipient_id,
    c.payee_name AS name,
    c.subject_id,
    c.amount,
    card.bank_name,
    right(card.account_no, 4) AS account_tail,
    card.account_no IS NOT NULL AS has_account
FROM {cohort} AS c
LEFT JOIN staging.hrss__social_security_cards AS card
    ON card.id_no = c.payee_id AND card.card_status = 'normal'
WHERE c.cycle = $cycle
ORDER BY c.payee_id, c.subject_id
